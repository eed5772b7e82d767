/* memwriter MIB COUNTER: the workload of bench/migrate.py.
 *
 * Allocates MIB MiB, then forever: writes one byte into every page (the whole set is dirty
 * again after each pass), counts the pass, and writes the count to the file COUNTER (at most
 * every 50 ms), sleeping 10 ms between passes (to leave a core to CRIU and rsync). The
 * counter only grows: a checkpointed and restored memwriter goes on from where it was, a
 * restarted one would begin again at 1. Built static (gcc -static) to run in any rootfs.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: memwriter MIB COUNTERFILE\n");
        return 2;
    }
    /* nothing inherited from hutch exec / lxc-attach (CRIU dumps every open fd) */
    for (int fd = 3; fd < 4096; fd++)
        close(fd);
    size_t size = (size_t)atol(argv[1]) << 20;
    unsigned char *buf = malloc(size);
    if (buf == NULL)
        return 1;
    memset(buf, 1, size);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.new", argv[2]);
    unsigned long passes = 0;
    struct timespec last = {0, 0}, now;
    for (;;) {
        for (size_t i = 0; i < size; i += 4096)
            buf[i]++;
        passes++;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000;
        if (ms >= 50) {
            char text[32];
            int len = snprintf(text, sizeof text, "%lu\n", passes);
            /* a new file renamed over the old one: a reader never sees it half-written */
            int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                if (write(fd, text, (size_t)len) == len)
                    rename(tmp, argv[2]);
                close(fd);
            }
            last = now;
        }
        usleep(10000);
    }
}
