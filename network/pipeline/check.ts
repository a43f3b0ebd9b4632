import { BerthError, ErrorCode } from '../../base/errors.js';
import { driverOf } from '../drivers/index.js';
import { checkLoopback } from '../loopback.js';
import { attachmentOwner, attachmentRules, hasRules, requireFirewall } from './firewall.js';
import { openHost } from './host.js';
import { checkPublished } from './ports-check.js';
import type { CheckRequest } from './request.js';
import { checkAttachmentShaping } from './shaping.js';

/** That the attachment is still what the attach made, step by step in the attach's order; the first difference throws, naming it. */
export async function check(req: CheckRequest): Promise<void> {
  if (req.addresses) await req.addresses.check(req.ifname);
  const driver = driverOf(req.network.driver);
  const host = openHost(req.hostNetnsPath);
  try {
    await driver.check(host, {
      name: req.identity.name,
      settings: req.network.settings,
      hostLink: req.identity.hostLink,
      netnsPath: req.netnsPath,
      ifname: req.ifname,
      expected: req.expected,
    });
    await checkAttachmentShaping(host, req);
  } finally {
    host.close();
  }
  if (req.loopback) await checkLoopback(req.netnsPath);
  if (req.rules.kind === 'attachment') {
    const rules = attachmentRules(req.rules, driver.hostInterface(req.network.settings), req.expected.ips);
    if (hasRules(rules)) {
      const fw = await requireFirewall(req.firewall, `the check of ${req.identity.name}`).open(req.rules.backend);
      const problems = await fw.check(attachmentOwner(req.identity.owner), rules);
      if (problems.length > 0) {
        throw new BerthError(
          ErrorCode.Internal,
          `firewall rules of ${req.identity.name} are not as ADD left them: ${problems.join('; ')}`,
          'DEL and ADD the container again, or run `berth firewall reload`',
        );
      }
    }
  }
  const ports = req.ports;
  if (ports) {
    const access = requireFirewall(req.firewall, `the check of ${req.identity.name}`);
    await checkPublished(
      ports.mapper,
      () => access.open(ports.backend),
      req.identity.owner,
      ports.specs,
      req.identity.name,
    );
  }
  if (req.names) await req.names.check();
}
