/* fuzz_common.h - what the file-loader fuzz targets share: the input
 * written to a temporary file (the loaders take paths, and gzip-compressed
 * input goes through zlib as in real use), and a trap for broken
 * invariants.  One file per process, removed at exit. */
#ifndef NABLA_FUZZ_COMMON_H
#define NABLA_FUZZ_COMMON_H

#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_path[64];

static inline void fuzz_cleanup(void) { unlink(fuzz_path); }

static inline void must(int cond)
{
    if (!cond)
        __builtin_trap();
}

/* Where temporary files go: /dev/shm when it can take them, since on ext4
 * rewriting a file in /tmp in place costs a flush (auto_da_alloc), and
 * that made the file targets 20 times slower. */
static inline const char *fuzz_tmp(void)
{
    return access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
}

/* data[0..size-1] into the file path, made anew; 0 on success. */
static inline int fuzz_write(const char *path, const uint8_t *data, size_t size)
{
    unlink(path); /* a new file, not one truncated: see fuzz_tmp */
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t put = size ? fwrite(data, 1, size, f) : 0;
    return fclose(f) == 0 && put == size ? 0 : -1;
}

/* data[0..size-1] into the temporary file; its path, or NULL. */
static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
    if (!fuzz_path[0]) {
        snprintf(fuzz_path, sizeof fuzz_path, "%s/nabla-fuzz-XXXXXX", fuzz_tmp());
        int fd = mkstemp(fuzz_path);
        if (fd < 0)
            return NULL;
        close(fd);
        atexit(fuzz_cleanup);
    }
    return fuzz_write(fuzz_path, data, size) == 0 ? fuzz_path : NULL;
}

static char fuzz_dir_path[64];

static inline void fuzz_dir_cleanup(void) { rmdir(fuzz_dir_path); }

/* A temporary directory for targets that read several files, removed at
 * exit (the target removes its files after each input); its path, or
 * NULL. */
static inline const char *fuzz_dir(void)
{
    if (!fuzz_dir_path[0]) {
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/nabla-fuzz-XXXXXX", fuzz_tmp());
        if (!mkdtemp(fuzz_dir_path)) {
            fuzz_dir_path[0] = '\0';
            return NULL;
        }
        atexit(fuzz_dir_cleanup);
    }
    return fuzz_dir_path;
}

#endif /* NABLA_FUZZ_COMMON_H */
