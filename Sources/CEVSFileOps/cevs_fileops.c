#define _GNU_SOURCE
#include "cevs_fileops.h"
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <linux/fs.h>

int cevs_ficlone(int dst_fd, int src_fd) {
    return ioctl(dst_fd, FICLONE, src_fd);
}

int64_t cevs_copy_file_range(int in_fd, int64_t *off_in, int out_fd, int64_t *off_out, uint64_t len) {
    __off64_t in = (__off64_t)*off_in, out = (__off64_t)*off_out;
    ssize_t n = copy_file_range(in_fd, &in, out_fd, &out, (size_t)len, 0);
    *off_in = (int64_t)in;
    *off_out = (int64_t)out;
    return (int64_t)n;
}

int64_t cevs_seek_data(int fd, int64_t offset) {
    return (int64_t)lseek(fd, (off_t)offset, SEEK_DATA);
}

int64_t cevs_seek_hole(int fd, int64_t offset) {
    return (int64_t)lseek(fd, (off_t)offset, SEEK_HOLE);
}

int cevs_fs_info(int fd, uint64_t *magic, uint64_t *free_bytes, uint64_t *total_bytes) {
    struct statfs s;
    if (fstatfs(fd, &s) != 0) return -1;
    *magic = (uint64_t)s.f_type;
    *free_bytes = (uint64_t)s.f_bavail * (uint64_t)s.f_bsize;
    *total_bytes = (uint64_t)s.f_blocks * (uint64_t)s.f_bsize;
    return 0;
}
