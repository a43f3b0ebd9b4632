import { BerthError, ErrorCode } from '../../base/errors.js';
import type { NetworkRecord } from '../model.js';
import { bridgeDriver } from './bridge/driver.js';
import { containerDriver } from './container.js';
import type { Driver } from './driver.js';
import { hostDriver } from './host.js';
import { macvlanDriver } from './macvlan/driver.js';
import { nullDriver } from './null.js';
import type { DriverName } from './options.js';
import { overlayDriver } from './overlay.js';

export type { DriverName } from './options.js';

/** Every driver berth has, by name. A new driver is a module in this folder, its name in DriverName (options.ts) and one line here. */
const DRIVERS = {
  bridge: bridgeDriver,
  host: hostDriver,
  null: nullDriver,
  container: containerDriver,
  macvlan: macvlanDriver,
  overlay: overlayDriver,
} as const satisfies { readonly [K in DriverName]: Driver };

/** A driver's settings, as the attach request carries them. */
export type SettingsOf<K extends DriverName> = (typeof DRIVERS)[K] extends Driver<infer S> ? S : never;

/** A network as an attachment sees it: its name, its driver and that driver's settings. */
export type NetworkSpec = {
  [K in DriverName]: { readonly name: string; readonly driver: K; readonly settings: SettingsOf<K> };
}[DriverName];

const isDriverName = (name: string): name is DriverName => Object.hasOwn(DRIVERS, name);

/** The drivers a network can be created with, in the order they are listed to a user. */
export const NETWORK_DRIVERS: readonly DriverName[] = (Object.keys(DRIVERS) as DriverName[]).filter(
  (n) => DRIVERS[n].networks,
);

function unknownDriver(name: string): BerthError {
  const names = NETWORK_DRIVERS.map((n) => JSON.stringify(n));
  return new BerthError(
    ErrorCode.InvalidConfig,
    `unknown driver ${JSON.stringify(name)}`,
    `use ${names.slice(0, -1).join(', ')} or ${names.at(-1)}`,
  );
}

/** The driver of that name, or a typed error listing the ones a network can have. */
export function driverOf(name: string): Driver {
  if (isDriverName(name)) return DRIVERS[name] as Driver;
  throw unknownDriver(name);
}

/** The driver a network can be created with (one of NETWORK_DRIVERS), or that error. */
export function networkDriverOf(name: string): Driver {
  if (isDriverName(name) && DRIVERS[name].networks) return DRIVERS[name] as Driver;
  throw unknownDriver(name);
}

/** A network record as an attachment sees it: its driver's settings worked out from the record. */
export function networkSpecOf(net: NetworkRecord): NetworkSpec {
  return { name: net.name, driver: net.driver, settings: driverOf(net.driver).settingsOf(net) } as NetworkSpec;
}

/** The host's interface toward a network's sandboxes (its bridge), where its rules and published ports point; none for a driver without one. */
export function hostInterfaceOf(net: NetworkRecord): string | undefined {
  const driver = driverOf(net.driver);
  return driver.hostInterface(driver.settingsOf(net));
}
