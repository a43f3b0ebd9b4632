import type { OwnerRules } from '../../iptables/index.js';
import type { Linked } from '../drivers/driver.js';
import { driverOf } from '../drivers/index.js';
import { setLoopbackDown, setLoopbackUp } from '../loopback.js';
import { transaction, type UndoStack } from '../undo.js';
import type { Addressing } from './addressing.js';
import { attachmentOwner, attachmentRules, hasRules, removeByRecord, requireFirewall } from './firewall.js';
import { openHost } from './host.js';
import { saveRecord } from './record.js';
import type { Attachment, AttachRequest, FirewallAccess } from './request.js';
import { shapeAttachment } from './shaping.js';

/**
 * Attaches a sandbox to a network, in one order for every caller: addresses, the driver's links
 * (and the addresses and routes on them), their shaping (bandwidth limits), lo, the firewall rules, the published ports, the names,
 * the record.
 * Each step pushes its undo; a failure unwinds them all before the error leaves.
 */
export async function attach(req: AttachRequest): Promise<Attachment> {
  const driver = driverOf(req.network.driver);
  // Outlives the transaction: a rollback deletes links through it.
  const host = openHost(req.hostNetnsPath);
  try {
    return await transaction(async (undo) => {
      let addressing: Addressing | null = null;
      if (req.addresses) {
        const source = req.addresses;
        addressing = await source.acquire(req.ifname);
        undo.push(source.name, () => source.release(req.ifname));
      }
      const linked = await driver.attach(
        host,
        {
          network: req.network.name,
          settings: req.network.settings,
          hostLink: req.identity.hostLink,
          netnsPath: req.netnsPath,
          ifname: req.ifname,
          addressing,
          ...(req.mac ? { mac: req.mac } : {}),
        },
        undo,
      );
      const ifb = await shapeAttachment(host, req, linked, undo);
      if (req.loopback) {
        await setLoopbackUp(req.netnsPath);
        undo.push('lo up', () => setLoopbackDown(req.netnsPath, req.log));
      }
      await commitRulesAndPorts(req, driver.hostInterface(req.network.settings), linked, undo);
      const names = req.names;
      if (names) {
        undo.push('names', () => names.withdraw({ netnsPath: req.netnsPath }));
        await names.publish({ netnsPath: req.netnsPath, linked });
      }
      const record = req.record ? await saveRecord(req.record, req, linked, undo) : undefined;
      return {
        ...linked,
        ...(addressing?.dns ? { dns: addressing.dns } : {}),
        ...(ifb ? { ifb } : {}),
        ...(record ? { record } : {}),
      };
    });
  } finally {
    host.close();
  }
}

/**
 * The attachment's own rules and its published ports: one firewall batch when they share a
 * backend (one nft transaction for the all-in-one plugin), else the rules first, on their own.
 */
async function commitRulesAndPorts(
  req: AttachRequest,
  hostInterface: string | undefined,
  linked: Linked,
  undo: UndoStack,
): Promise<void> {
  const along: OwnerRules[] = [];
  let access: FirewallAccess | undefined;
  if (req.rules.kind === 'attachment') {
    const rules = attachmentRules(req.rules, hostInterface, linked.ips);
    if (hasRules(rules)) {
      access = requireFirewall(req.firewall, `the attach of ${req.identity.name}`);
      const owner = attachmentOwner(req.identity.owner);
      // Before the change: the firewall records an owner before it touches the kernel.
      const at = access;
      undo.push('firewall rules', () => removeByRecord(at, owner));
      if (req.ports && req.ports.backend === req.rules.backend) along.push({ owner, rules });
      else await (await access.open(req.rules.backend)).apply(owner, rules);
    }
  }
  const ports = req.ports;
  if (!ports) return;
  if (ports.specs.length === 0) {
    if (access && along.length > 0) await (await access.open(ports.backend)).applyMany(along);
    return;
  }
  const target = ports.target(linked);
  await ports.mapper.publish(target, ports.specs, req.netnsPath, along);
  undo.push('published ports', () => ports.mapper.unpublish(target.owner));
}
