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

/* data[0..size-1] into the temporary file; its path, or NULL. */
static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
    if (!fuzz_path[0]) {
        snprintf(fuzz_path, sizeof fuzz_path, "/tmp/nabla-fuzz-XXXXXX");
        int fd = mkstemp(fuzz_path);
        if (fd < 0)
            return NULL;
        close(fd);
        atexit(fuzz_cleanup);
    }
    FILE *f = fopen(fuzz_path, "wb");
    if (!f)
        return NULL;
    size_t put = size ? fwrite(data, 1, size, f) : 0;
    return fclose(f) == 0 && put == size ? fuzz_path : NULL;
}

static char fuzz_dir_path[64];

static inline void fuzz_dir_cleanup(void) { rmdir(fuzz_dir_path); }

/* A temporary directory for targets that read several files, removed at
 * exit (the target removes its files after each input); its path, or
 * NULL. */
static inline const char *fuzz_dir(void)
{
    if (!fuzz_dir_path[0]) {
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "/tmp/nabla-fuzz-XXXXXX");
        if (!mkdtemp(fuzz_dir_path)) {
            fuzz_dir_path[0] = '\0';
            return NULL;
        }
        atexit(fuzz_dir_cleanup);
    }
    return fuzz_dir_path;
}

/* data[0..size-1] into the file path; 0 on success. */
static inline int fuzz_write(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t put = size ? fwrite(data, 1, size, f) : 0;
    return fclose(f) == 0 && put == size ? 0 : -1;
}

#endif /* NABLA_FUZZ_COMMON_H */
