//! BlueZ's GATT client objects (doc/org.bluez.GattService.rst, GattCharacteristic.rst): once a
//! device has been connected its services appear under its object, `serviceXXXX/charYYYY` named
//! by attribute handle, and stay (BlueZ caches a bonded device's database). ReadValue, WriteValue
//! and StartNotify go to the device over the connection the emulator holds open since Connect;
//! notifications arrive as PropertiesChanged on `Value`, and ATT errors come back as the D-Bus
//! errors bluetoothd makes of them (src/gatt-client.c, `create_gatt_dbus_error`).

use std::collections::BTreeMap;

use dbus::MethodErr;
use dbus::arg::{PropMap, RefArg};
use dbus_crossroads::{Context, Crossroads, IfaceBuilder, IfaceToken};
use hil_rig::LinkFailure;
use hil_scenario::Characteristic;

use super::objects::{DEVICE1, Device, changed};
use super::radio::SharedRadio;
use crate::device::{AttAnswer, AttOp, Notification};

pub const SERVICE1: &str = "org.bluez.GattService1";
pub const CHARACTERISTIC1: &str = "org.bluez.GattCharacteristic1";
/// BlueZ numbers a device's first service after the GAP and GATT services.
const FIRST_HANDLE: u16 = 0x0010;

pub struct Service {
    uuid: String,
    device: dbus::Path<'static>,
}

pub struct Chrc {
    characteristic: Characteristic,
    service: dbus::Path<'static>,
    device: dbus::Path<'static>,
    /// The last value read or notified, as BlueZ caches it.
    value: Vec<u8>,
    notifying: bool,
}

/// The registered GATT interfaces, for exporting a device's database.
#[derive(Clone, Copy)]
pub struct GattIfaces {
    service: IfaceToken<Service>,
    chrc: IfaceToken<Chrc>,
}

/// The objects of a device's exported database.
#[derive(Default)]
pub struct GattObjects {
    services: Vec<dbus::Path<'static>>,
    characteristics: Vec<dbus::Path<'static>>,
}

impl GattIfaces {
    /// Exports what discovery found under `device`, as BlueZ does.
    pub fn export(
        self,
        cr: &mut Crossroads,
        device: &dbus::Path<'static>,
        discovered: &[Characteristic],
    ) -> GattObjects {
        let mut objects = GattObjects::default();
        let mut services: BTreeMap<&str, Vec<&Characteristic>> = BTreeMap::new();
        for c in discovered {
            services.entry(&c.service).or_default().push(c);
        }
        let mut handle = FIRST_HANDLE;
        for (uuid, characteristics) in services {
            let service = dbus::Path::from(format!("{device}/service{handle:04x}"));
            handle += 1;
            let data = Service {
                uuid: uuid.to_string(),
                device: device.clone(),
            };
            cr.insert(service.clone(), &[self.service], data);
            objects.services.push(service.clone());
            for c in characteristics {
                let path = dbus::Path::from(format!("{service}/char{handle:04x}"));
                // Declaration and value, and a CCC descriptor when it notifies.
                handle += 2 + u16::from(c.notify);
                let data = Chrc {
                    characteristic: c.clone(),
                    service: service.clone(),
                    device: device.clone(),
                    value: Vec::new(),
                    notifying: false,
                };
                cr.insert(path.clone(), &[self.chrc], data);
                objects.characteristics.push(path);
            }
        }
        objects
    }
}

impl GattObjects {
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// Takes the objects off the bus, as when BlueZ removes the device.
    pub fn remove(&self, cr: &mut Crossroads) {
        for path in &self.characteristics {
            cr.remove::<Chrc>(path);
        }
        for path in &self.services {
            cr.remove::<Service>(path);
        }
    }
}

pub fn register(cr: &mut Crossroads, radio: &SharedRadio) -> GattIfaces {
    let service = cr.register(SERVICE1, |b: &mut IfaceBuilder<Service>| {
        b.property("UUID").get(|_, s| Ok(s.uuid.clone()));
        b.property("Primary").get(|_, _| Ok(true));
        b.property("Device").get(|_, s| Ok(s.device.clone()));
        b.property("Includes")
            .get(|_, _| Ok(Vec::<dbus::Path<'static>>::new()));
    });
    let chrc = cr.register(CHARACTERISTIC1, |b: &mut IfaceBuilder<Chrc>| {
        b.property("UUID")
            .get(|_, c| Ok(c.characteristic.uuid.clone()));
        b.property("Service").get(|_, c| Ok(c.service.clone()));
        b.property("Value").get(|_, c| Ok(c.value.clone()));
        b.property("Notifying").get(|_, c| Ok(c.notifying));
        b.property("Flags").get(|_, c| Ok(flags(&c.characteristic)));
        let read = radio.clone();
        b.method_with_cr(
            "ReadValue",
            ("options",),
            ("value",),
            move |ctx, cr, (_,): (PropMap,)| {
                let c = characteristic(ctx, cr)?;
                let AttAnswer::Value(value) = exchange(&read, ctx, cr, AttOp::Read(c))? else {
                    return Err(att_error(&LinkFailure::Att(0)));
                };
                if let Some(chrc) = cr.data_mut::<Chrc>(ctx.path()) {
                    chrc.value.clone_from(&value);
                }
                Ok((value,))
            },
        );
        let write = radio.clone();
        b.method_with_cr(
            "WriteValue",
            ("value", "options"),
            (),
            move |ctx, cr, (value, _): (Vec<u8>, PropMap)| {
                let c = characteristic(ctx, cr)?;
                exchange(&write, ctx, cr, AttOp::Write(c, value)).map(drop)
            },
        );
        let subscribe = radio.clone();
        b.method_with_cr("StartNotify", (), (), move |ctx, cr, ()| {
            let c = characteristic(ctx, cr)?;
            if !c.notify {
                return Err(MethodErr::from((
                    "org.bluez.Error.NotSupported",
                    "Operation is not supported",
                )));
            }
            exchange(&subscribe, ctx, cr, AttOp::Subscribe(c))?;
            if let Some(chrc) = cr.data_mut::<Chrc>(ctx.path()) {
                chrc.notifying = true;
            }
            let props: Vec<(&str, Box<dyn RefArg>)> = vec![("Notifying", Box::new(true))];
            ctx.push_msg(changed(ctx.path(), CHARACTERISTIC1, props));
            Ok(())
        });
        b.method("StopNotify", (), (), |ctx, c, ()| {
            if !c.notifying {
                return Err(MethodErr::from((
                    "org.bluez.Error.Failed",
                    "No notify session started",
                )));
            }
            c.notifying = false;
            let props: Vec<(&str, Box<dyn RefArg>)> = vec![("Notifying", Box::new(false))];
            ctx.push_msg(changed(ctx.path(), CHARACTERISTIC1, props));
            Ok(())
        });
    });
    GattIfaces { service, chrc }
}

/// BlueZ's names for a characteristic's properties.
fn flags(c: &Characteristic) -> Vec<String> {
    [(c.read, "read"), (c.write, "write"), (c.notify, "notify")]
        .into_iter()
        .filter(|(has, _)| *has)
        .map(|(_, flag)| flag.to_string())
        .collect()
}

/// The characteristic a call is for; its device must be connected.
fn characteristic(ctx: &Context, cr: &mut Crossroads) -> Result<Characteristic, MethodErr> {
    let chrc = cr
        .data_mut::<Chrc>(ctx.path())
        .ok_or_else(|| MethodErr::no_path(ctx.path()))?;
    let (c, device) = (chrc.characteristic.clone(), chrc.device.clone());
    let connected = cr.data_mut::<Device>(&device).is_some_and(|d| d.connected);
    if !connected {
        return Err(not_connected());
    }
    Ok(c)
}

/// One ATT operation on the device's open connection; what it notified meanwhile is signalled.
fn exchange(
    radio: &SharedRadio,
    ctx: &mut Context,
    cr: &mut Crossroads,
    op: AttOp,
) -> Result<AttAnswer, MethodErr> {
    let device_path = cr
        .data_mut::<Chrc>(ctx.path())
        .map(|c| c.device.clone())
        .ok_or_else(|| MethodErr::no_path(ctx.path()))?;
    let device = cr
        .data_mut::<Device>(&device_path)
        .map(|d| d.device.clone())
        .ok_or_else(|| MethodErr::no_path(&device_path))?;
    let (answer, notified) = radio.att(&device, op).map_err(MethodErr::from)?;
    for notification in notified {
        notify(ctx, cr, &device_path, notification);
    }
    answer.map_err(|failure| {
        if matches!(
            failure,
            LinkFailure::Disconnected(_) | LinkFailure::NotBonded
        ) {
            dropped(ctx, cr, &device_path);
        }
        att_error(&failure)
    })
}

/// A notification: the characteristic's cached value changes, if it is notifying.
fn notify(
    ctx: &mut Context,
    cr: &mut Crossroads,
    device: &dbus::Path<'static>,
    notification: Notification,
) {
    let paths = cr
        .data_mut::<Device>(device)
        .map(|d| d.gatt_objects.characteristics.clone())
        .unwrap_or_default();
    for path in paths {
        let Some(chrc) = cr.data_mut::<Chrc>(&path) else {
            continue;
        };
        if chrc.characteristic.uuid == notification.uuid && chrc.notifying {
            chrc.value.clone_from(&notification.value);
            let value: Vec<(&str, Box<dyn RefArg>)> =
                vec![("Value", Box::new(notification.value.clone()))];
            ctx.push_msg(changed(&path, CHARACTERISTIC1, value));
        }
    }
}

/// The link went down under an operation: the device shows disconnected.
fn dropped(ctx: &mut Context, cr: &mut Crossroads, device: &dbus::Path<'static>) {
    if let Some(d) = cr.data_mut::<Device>(device) {
        d.connected = false;
        let props: Vec<(&str, Box<dyn RefArg>)> = vec![
            ("ServicesResolved", Box::new(false)),
            ("Connected", Box::new(false)),
        ];
        ctx.push_msg(changed(device, DEVICE1, props));
    }
}

fn not_connected() -> MethodErr {
    MethodErr::from(("org.bluez.Error.Failed", "Not connected"))
}

/// The D-Bus error bluetoothd answers a failed ATT operation with (`create_gatt_dbus_error`).
fn att_error(failure: &LinkFailure) -> MethodErr {
    let code = match failure {
        LinkFailure::Att(code) => *code,
        // The request never got an ATT response: BlueZ has no error code for it.
        _ => 0,
    };
    let (name, message) = match code {
        0x02 => ("NotPermitted", "Read not permitted".to_string()),
        0x03 => ("NotPermitted", "Write not permitted".to_string()),
        0x05 | 0x0C | 0x0F => ("NotPermitted", "Not paired".to_string()),
        0x07 => ("InvalidArguments", "Invalid offset".to_string()),
        0x0D => ("InvalidArguments", "Invalid Length".to_string()),
        0x08 => ("NotAuthorized", "Operation Not Authorized".to_string()),
        0x06 => ("NotSupported", "Operation is not supported".to_string()),
        0 => ("Failed", "Operation failed".to_string()),
        code => (
            "Failed",
            format!("Operation failed with ATT error: 0x{code:02x}"),
        ),
    };
    MethodErr::from((format!("org.bluez.Error.{name}"), message))
}
