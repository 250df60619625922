// What an entry of /proc/<pid>/fd points to: the kernel shows a socket as "socket:[<inode>]"
// (pipes "pipe:[<inode>]", anonymous inodes "anon_inode:[eventpoll]", files their path).

const SOCKET_LINK = /^socket:\[(\d+)\]$/;

/** The socket inode of an fd link target, undefined when it is not a socket. */
export function socketInode(linkTarget: string): string | undefined {
  return SOCKET_LINK.exec(linkTarget)?.[1];
}
