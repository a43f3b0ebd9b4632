import { sha256Hex } from '../../base/sha256.js';

/**
 * The names of an attachment that a runtime made through berth's CNI plugins, all derived from
 * (network, container ID, ifname), so a DEL finds everything without the netns or the ADD's result.
 */

/** The host end's name (the reference names it at random, and then cannot find it without the netns). */
export function hostVethName(network: string, containerId: string, ifName: string): string {
  return `veth${sha256Hex(`${network}\0${containerId}\0${ifName}`).slice(0, 11)}`;
}

/** The owner of the attachment's firewall rules and published ports. */
export function attachmentOwnerId(network: string, containerId: string, ifName: string): string {
  return `${network}/${containerId}/${ifName}`;
}

const RECORD_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const MAX_RECORD_NAME = 200;

/**
 * The name of the attachment's endpoint in its network: `<containerId>.<ifname>` where that makes a
 * record name (CNI container IDs and network names are already of that alphabet), else a hash.
 */
export function cniEndpointName(network: string, containerId: string, ifName: string): string {
  const readable = `${containerId}.${ifName}`;
  if (RECORD_NAME.test(readable) && network.length + 1 + readable.length <= MAX_RECORD_NAME) return readable;
  return `cni-${sha256Hex(`${network}\0${containerId}\0${ifName}`).slice(0, 24)}`;
}

/** The endpoint ID of the attachment: stable, so an ADD again after a DEL gets the same one. */
export function cniEndpointId(network: string, containerId: string, ifName: string): string {
  return sha256Hex(attachmentOwnerId(network, containerId, ifName)).slice(0, 12);
}
