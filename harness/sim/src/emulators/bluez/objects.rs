//! BlueZ's D-Bus objects as bluetoothd exports them (doc/org.bluez.Adapter.rst, Device.rst):
//! `org.bluez.Adapter1` on `/org/bluez/hciN`, `org.bluez.Device1` on `…/dev_XX_XX_XX_XX_XX_XX`,
//! all under the ObjectManager on `/`. Calls that reach the radio go to the world's central.

use dbus::MethodErr;
use dbus::arg::{PropMap, RefArg, Variant};
use dbus::blocking::stdintf::org_freedesktop_dbus::PropertiesPropertiesChanged;
use dbus::message::SignalArgs;
use dbus_crossroads::{Crossroads, IfaceBuilder, IfaceToken};
use hil_rig::Advertisement;

use super::gatt::{GattIfaces, GattObjects};
use super::radio::{BluezError, SharedRadio, not_ready};
use crate::emulators::backend::LinkKind;

pub const ADAPTER1: &str = "org.bluez.Adapter1";
pub const DEVICE1: &str = "org.bluez.Device1";

pub struct Adapter {
    pub address: String,
    pub powered: bool,
    pub discovering: bool,
}

pub struct Device {
    /// The world's name for the device (the radio is asked by it).
    pub device: String,
    pub name: String,
    pub address: String,
    pub adapter: dbus::Path<'static>,
    pub rssi: i16,
    pub paired: bool,
    pub connected: bool,
    /// Its GATT database, discovered on the first connection and cached.
    pub gatt_objects: GattObjects,
}

impl Device {
    pub fn heard(adapter: &dbus::Path<'static>, advert: &Advertisement) -> Self {
        Self {
            device: advert.device.clone().unwrap_or_else(|| advert.name.clone()),
            name: advert.name.clone(),
            address: advert.address.clone(),
            adapter: adapter.clone(),
            rssi: advert.rssi_dbm.round() as i16,
            paired: false,
            connected: false,
            gatt_objects: GattObjects::default(),
        }
    }
}

/// A device's object path, as BlueZ forms it from the address.
pub fn device_path(adapter: &dbus::Path<'static>, address: &str) -> dbus::Path<'static> {
    dbus::Path::from(format!("{adapter}/dev_{}", address.replace(':', "_")))
}

/// Properties.PropertiesChanged for `props` of `interface` on `path`.
pub fn changed(
    path: &dbus::Path<'static>,
    interface: &str,
    props: Vec<(&str, Box<dyn RefArg>)>,
) -> dbus::Message {
    let changed_properties: PropMap = props
        .into_iter()
        .map(|(name, value)| (name.to_string(), Variant(value)))
        .collect();
    PropertiesPropertiesChanged {
        interface_name: interface.to_string(),
        changed_properties,
        invalidated_properties: Vec::new(),
    }
    .to_emit_message(path)
}

fn method_err((name, message): BluezError) -> MethodErr {
    MethodErr::from((name, message))
}

fn powered(cr: &mut Crossroads, adapter: &dbus::Path<'static>) -> bool {
    cr.data_mut::<Adapter>(adapter).is_some_and(|a| a.powered)
}

pub fn register_adapter(cr: &mut Crossroads, radio: SharedRadio) -> IfaceToken<Adapter> {
    cr.register(ADAPTER1, move |b: &mut IfaceBuilder<Adapter>| {
        b.property("Address").get(|_, a| Ok(a.address.clone()));
        b.property("AddressType")
            .get(|_, _| Ok("public".to_string()));
        b.property("Name").get(|_, _| Ok("hil-phone".to_string()));
        b.property("Alias").get(|_, _| Ok("hil-phone".to_string()));
        b.property("Class").get(|_, _| Ok(0x7c_010c_u32));
        b.property("Modalias")
            .get(|_, _| Ok("usb:v1D6Bp0246d0554".to_string()));
        b.property("Discoverable").get(|_, _| Ok(false));
        b.property("Pairable").get(|_, _| Ok(true));
        b.property("Discovering").get(|_, a| Ok(a.discovering));
        b.property("UUIDs").get(|_, _| Ok(Vec::<String>::new()));
        let power = radio.clone();
        b.property("Powered")
            .get(|_, a| Ok(a.powered))
            .set(move |_, a, on: bool| {
                power.power(on).map_err(method_err)?;
                a.powered = on;
                a.discovering &= on;
                Ok(Some(on))
            });
        b.method("StartDiscovery", (), (), |ctx, a, ()| {
            if !a.powered {
                return Err(method_err(not_ready()));
            }
            if !a.discovering {
                a.discovering = true;
                ctx.push_msg(changed(
                    ctx.path(),
                    ADAPTER1,
                    vec![("Discovering", Box::new(true))],
                ));
            }
            Ok(())
        });
        b.method("StopDiscovery", (), (), |ctx, a, ()| {
            if !a.discovering {
                return Err(MethodErr::from((
                    "org.bluez.Error.Failed",
                    "No discovery started",
                )));
            }
            a.discovering = false;
            ctx.push_msg(changed(
                ctx.path(),
                ADAPTER1,
                vec![("Discovering", Box::new(false))],
            ));
            Ok(())
        });
        b.method(
            "SetDiscoveryFilter",
            ("properties",),
            (),
            |_, _, (_,): (PropMap,)| Ok(()),
        );
        b.method("GetDiscoveryFilters", (), ("filters",), |_, _, ()| {
            let filters = ["UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData"];
            Ok((filters.map(str::to_string).to_vec(),))
        });
        b.method_with_cr(
            "RemoveDevice",
            ("device",),
            (),
            move |ctx, cr, (device,): (dbus::Path<'static>,)| {
                let Some(known) = cr.data_mut::<Device>(&device) else {
                    return Err(MethodErr::from((
                        "org.bluez.Error.DoesNotExist",
                        "Does Not Exist",
                    )));
                };
                if known.adapter != *ctx.path() {
                    return Err(MethodErr::from((
                        "org.bluez.Error.DoesNotExist",
                        "Does Not Exist",
                    )));
                }
                radio.forget(&known.device).map_err(method_err)?;
                if let Some(removed) = cr.remove::<Device>(&device) {
                    removed.gatt_objects.remove(cr);
                }
                Ok(())
            },
        );
    })
}

pub fn register_device(
    cr: &mut Crossroads,
    radio: SharedRadio,
    gatt: GattIfaces,
) -> IfaceToken<Device> {
    cr.register(DEVICE1, move |b: &mut IfaceBuilder<Device>| {
        b.property("Address").get(|_, d| Ok(d.address.clone()));
        b.property("AddressType")
            .get(|_, _| Ok("random".to_string()));
        b.property("Name").get(|_, d| Ok(d.name.clone()));
        b.property("Alias").get(|_, d| Ok(d.name.clone()));
        b.property("Adapter").get(|_, d| Ok(d.adapter.clone()));
        b.property("RSSI").get(|_, d| Ok(d.rssi));
        b.property("Paired").get(|_, d| Ok(d.paired));
        b.property("Bonded").get(|_, d| Ok(d.paired));
        b.property("Trusted").get(|_, _| Ok(false));
        b.property("Blocked").get(|_, _| Ok(false));
        b.property("LegacyPairing").get(|_, _| Ok(false));
        b.property("Connected").get(|_, d| Ok(d.connected));
        b.property("ServicesResolved").get(|_, d| Ok(d.connected));
        b.property("UUIDs").get(|_, _| Ok(Vec::<String>::new()));
        let pair = radio.clone();
        b.method_with_cr("Pair", (), (), move |ctx, cr, ()| {
            let device = link_target(ctx, cr)?;
            if device.paired {
                return Err(MethodErr::from((
                    "org.bluez.Error.AlreadyExists",
                    "Already Exists",
                )));
            }
            pair.link(&device.device, &device.address, LinkKind::Pair)
                .map_err(method_err)?;
            linked(ctx, cr, true);
            Ok(())
        });
        let connect = radio.clone();
        b.method_with_cr("Connect", (), (), move |ctx, cr, ()| {
            let device = link_target(ctx, cr)?;
            if device.connected {
                return Ok(());
            }
            // The connection stays up for GATT until Disconnect.
            let name = device.device.clone();
            let discover = device.gatt_objects.is_empty();
            connect
                .link(&name, &device.address, LinkKind::Hold)
                .map_err(method_err)?;
            if discover {
                let found = connect.discover(&name).map_err(method_err)?;
                let objects = gatt.export(cr, ctx.path(), &found);
                if let Some(device) = cr.data_mut::<Device>(ctx.path()) {
                    device.gatt_objects = objects;
                }
            }
            linked(ctx, cr, false);
            Ok(())
        });
        let disconnect = radio;
        b.method("Disconnect", (), (), move |ctx, d, ()| {
            if !d.connected {
                return Err(MethodErr::from((
                    "org.bluez.Error.NotConnected",
                    "Not Connected",
                )));
            }
            disconnect.close(&d.device);
            d.connected = false;
            let props: Vec<(&str, Box<dyn RefArg>)> = vec![
                ("ServicesResolved", Box::new(false)),
                ("Connected", Box::new(false)),
            ];
            ctx.push_msg(changed(ctx.path(), DEVICE1, props));
            Ok(())
        });
        b.method("CancelPairing", (), (), |_, _, ()| Ok(()));
    })
}

/// The device a Pair or Connect is for, if its adapter is powered.
fn link_target<'a>(
    ctx: &dbus_crossroads::Context,
    cr: &'a mut Crossroads,
) -> Result<&'a Device, MethodErr> {
    let adapter = cr
        .data_mut::<Device>(ctx.path())
        .ok_or_else(|| MethodErr::no_path(ctx.path()))?
        .adapter
        .clone();
    if !powered(cr, &adapter) {
        return Err(method_err(not_ready()));
    }
    cr.data_mut::<Device>(ctx.path())
        .map(|d| &*d)
        .ok_or_else(|| MethodErr::no_path(ctx.path()))
}

/// The link is up (and, after pairing, the device bonded): as BlueZ shows it.
fn linked(ctx: &mut dbus_crossroads::Context, cr: &mut Crossroads, paired: bool) {
    let Some(device) = cr.data_mut::<Device>(ctx.path()) else {
        return;
    };
    device.connected = true;
    let mut props: Vec<(&str, Box<dyn RefArg>)> = vec![("Connected", Box::new(true))];
    if paired {
        device.paired = true;
        props.push(("Paired", Box::new(true)));
        props.push(("Bonded", Box::new(true)));
    }
    props.push(("ServicesResolved", Box::new(true)));
    let message = changed(ctx.path(), DEVICE1, props);
    ctx.push_msg(message);
}
