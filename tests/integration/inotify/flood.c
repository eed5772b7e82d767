/* Make as many inotify instances as the kernel allows (up to argv[1]), print how many and
 * why it stopped, then hold them until stdin ends. For test_ct_inotify.py. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int want = argc > 1 ? atoi(argv[1]) : 1000, n = 0;
    char buf[64];
    for (; n < want; n++)
        if (inotify_init1(IN_CLOEXEC) < 0)
            break;
    printf("%d %s\n", n, n < want ? strerror(errno) : "ok");
    fflush(stdout);
    while (read(0, buf, sizeof buf) > 0)
        ;
    return 0;
}
