// C shim for the Linux file calls that Swift's Glibc module does not import:
// copy_file_range(2) and SEEK_DATA/SEEK_HOLE need _GNU_SOURCE, and ioctl(2) is variadic.
// Each wrapper returns what the system call returns and leaves errno set on failure.
#ifndef CEVS_FILEOPS_H
#define CEVS_FILEOPS_H

#include <stdint.h>
#include <stddef.h>

/// Clones all of `src` into `dst` sharing extents. Corresponds to `ioctl(dst, FICLONE, src)`.
/// Returns 0, or -1 with errno (EOPNOTSUPP/EINVAL: no reflink support; EXDEV: different file systems).
int cevs_ficlone(int dst_fd, int src_fd);

/// Corresponds to `copy_file_range(in, &off_in, out, &off_out, len, 0)`; offsets are updated.
int64_t cevs_copy_file_range(int in_fd, int64_t *off_in, int out_fd, int64_t *off_out, uint64_t len);

/// Corresponds to `lseek(fd, offset, SEEK_DATA)`: the next offset >= `offset` holding data, or -1 (ENXIO: none).
int64_t cevs_seek_data(int fd, int64_t offset);

/// Corresponds to `lseek(fd, offset, SEEK_HOLE)`: the next hole at or after `offset` (end of file counts as a hole).
int64_t cevs_seek_hole(int fd, int64_t offset);

/// Corresponds to `fstatfs(fd)`: stores the file system magic (`f_type`) and free/total bytes. Returns 0 or -1.
int cevs_fs_info(int fd, uint64_t *magic, uint64_t *free_bytes, uint64_t *total_bytes);

#endif
