"use strict";
// Clicking (or pressing Enter on) a timeline mark opens the event table and shows its row.
for (const svg of document.querySelectorAll("svg.timeline")) {
  const scenario = svg.dataset.scenario;
  const show = (mark) => {
    const row = document.getElementById(`event-${scenario}-${mark.dataset.seq}`);
    if (!row) return;
    row.closest("details").open = true;
    for (const old of document.querySelectorAll("tr.highlight")) old.classList.remove("highlight");
    row.classList.add("highlight");
    row.scrollIntoView({ block: "center" });
  };
  for (const mark of svg.querySelectorAll(".mark")) {
    mark.addEventListener("click", () => show(mark));
    mark.addEventListener("keydown", (e) => { if (e.key === "Enter") show(mark); });
  }
}
const only = document.getElementById("only-regressions");
only.addEventListener("change", () => document.body.classList.toggle("only-regressions", only.checked));
// Lets a headless browser test tell that the script ran to the end.
document.body.dataset.ready = "true";
