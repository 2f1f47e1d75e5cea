import { getSystemErrorMap } from 'node:util';

/**
 * nginx's `(2: No such file or directory)` for a failed system call: the errno and its strerror
 * text (libuv's wording, which is strerror's with a lower-case first letter).
 */
export function errnoText(error: NodeJS.ErrnoException): string {
  const errno = error.errno;
  const known = errno === undefined ? undefined : getSystemErrorMap().get(errno);
  if (errno === undefined || known === undefined) return `(${error.code ?? error.message})`;
  const text = known[1];
  return `(${Math.abs(errno)}: ${text.charAt(0).toUpperCase()}${text.slice(1)})`;
}
