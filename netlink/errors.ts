import type { SystemError } from '../base/binding.js';

/**
 * Linux errno numbers with their names and glibc's strerror text. The kernel
 * answers netlink requests with these; they are the same on every architecture
 * Node runs on (the asm-generic numbering), so a table beats a runtime lookup
 * that other JavaScript runtimes may not offer.
 */
const ERRNO: Readonly<Record<number, readonly [string, string]>> = {
  1: ['EPERM', 'Operation not permitted'],
  2: ['ENOENT', 'No such file or directory'],
  3: ['ESRCH', 'No such process'],
  4: ['EINTR', 'Interrupted system call'],
  5: ['EIO', 'Input/output error'],
  6: ['ENXIO', 'No such device or address'],
  7: ['E2BIG', 'Argument list too long'],
  9: ['EBADF', 'Bad file descriptor'],
  11: ['EAGAIN', 'Resource temporarily unavailable'],
  12: ['ENOMEM', 'Cannot allocate memory'],
  13: ['EACCES', 'Permission denied'],
  14: ['EFAULT', 'Bad address'],
  16: ['EBUSY', 'Device or resource busy'],
  17: ['EEXIST', 'File exists'],
  18: ['EXDEV', 'Invalid cross-device link'],
  19: ['ENODEV', 'No such device'],
  20: ['ENOTDIR', 'Not a directory'],
  21: ['EISDIR', 'Is a directory'],
  22: ['EINVAL', 'Invalid argument'],
  23: ['ENFILE', 'Too many open files in system'],
  24: ['EMFILE', 'Too many open files'],
  28: ['ENOSPC', 'No space left on device'],
  30: ['EROFS', 'Read-only file system'],
  31: ['EMLINK', 'Too many links'],
  32: ['EPIPE', 'Broken pipe'],
  33: ['EDOM', 'Numerical argument out of domain'],
  34: ['ERANGE', 'Numerical result out of range'],
  35: ['EDEADLK', 'Resource deadlock avoided'],
  36: ['ENAMETOOLONG', 'File name too long'],
  38: ['ENOSYS', 'Function not implemented'],
  39: ['ENOTEMPTY', 'Directory not empty'],
  40: ['ELOOP', 'Too many levels of symbolic links'],
  42: ['ENOMSG', 'No message of desired type'],
  61: ['ENODATA', 'No data available'],
  71: ['EPROTO', 'Protocol error'],
  74: ['EBADMSG', 'Bad message'],
  75: ['EOVERFLOW', 'Value too large for defined data type'],
  76: ['ENOTUNIQ', 'Name not unique on network'],
  88: ['ENOTSOCK', 'Socket operation on non-socket'],
  90: ['EMSGSIZE', 'Message too long'],
  92: ['ENOPROTOOPT', 'Protocol not available'],
  93: ['EPROTONOSUPPORT', 'Protocol not supported'],
  95: ['EOPNOTSUPP', 'Operation not supported'],
  96: ['EPFNOSUPPORT', 'Protocol family not supported'],
  97: ['EAFNOSUPPORT', 'Address family not supported by protocol'],
  98: ['EADDRINUSE', 'Address already in use'],
  99: ['EADDRNOTAVAIL', 'Cannot assign requested address'],
  100: ['ENETDOWN', 'Network is down'],
  101: ['ENETUNREACH', 'Network is unreachable'],
  103: ['ECONNABORTED', 'Software caused connection abort'],
  104: ['ECONNRESET', 'Connection reset by peer'],
  105: ['ENOBUFS', 'No buffer space available'],
  107: ['ENOTCONN', 'Transport endpoint is not connected'],
  110: ['ETIMEDOUT', 'Connection timed out'],
  111: ['ECONNREFUSED', 'Connection refused'],
  112: ['EHOSTDOWN', 'Host is down'],
  113: ['EHOSTUNREACH', 'No route to host'],
  114: ['EALREADY', 'Operation already in progress'],
  115: ['EINPROGRESS', 'Operation now in progress'],
  122: ['EDQUOT', 'Disk quota exceeded'],
  125: ['ECANCELED', 'Operation canceled'],
  // Kernel-internal, but rtnetlink lets it escape (e.g. an unsupported link operation).
  524: ['ENOTSUPP', 'Operation is not supported'],
};

/** The name of a positive errno number ('EEXIST'), or 'UNKNOWN'. */
export function errnoName(errno: number): string {
  return ERRNO[errno]?.[0] ?? 'UNKNOWN';
}

/** strerror's text for a positive errno number. */
export function errnoMessage(errno: number): string {
  return ERRNO[errno]?.[1] ?? `Unknown error ${errno}`;
}

/**
 * A failure the kernel reported over netlink, shaped like Node's system errors:
 * `code` 'EEXIST', `errno` -17 (negative, as Node's), `syscall` 'netlink'.
 * The message says what was asked and carries the kernel's extended-ACK text:
 * "EINVAL: Invalid argument, set mtu 10 on 'eth0' (netlink: mtu less than device minimum)".
 */
export class NetlinkError extends Error implements SystemError {
  override readonly name = 'NetlinkError';
  readonly code: string;
  readonly errno: number;
  readonly syscall = 'netlink';
  /** The kernel's own explanation (NLMSGERR_ATTR_MSG), when it gave one. */
  readonly extAck: string | undefined;
  /** Byte offset in the request of the attribute the kernel rejected (NLMSGERR_ATTR_OFFS). */
  readonly extAckOffset: number | undefined;

  /** `errno` is the positive errno number; `what` says what was being done. */
  constructor(errno: number, what: string, extAck?: string, extAckOffset?: number) {
    const code = errnoName(errno);
    const context = what ? `, ${what}` : '';
    const kernel = extAck ? ` (netlink: ${extAck})` : '';
    super(`${code}: ${errnoMessage(errno)}${context}${kernel}`);
    this.code = code;
    this.errno = -errno;
    this.extAck = extAck;
    this.extAckOffset = extAckOffset;
  }
}

/** An argument the caller got wrong, caught before the kernel sees it (Node's ERR_INVALID_ARG_VALUE). */
export class InvalidArgumentError extends TypeError {
  override readonly name = 'InvalidArgumentError';
  readonly code = 'ERR_INVALID_ARG_VALUE';
}
