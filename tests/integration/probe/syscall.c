/* syscall ABI NR [ARG...]: make one raw system call inside a container, print its result.
 *
 * ABI is x86_64 (the syscall instruction), i386 (int $0x80, the compat ABI a 64-bit process
 * can still enter) or x32 (NR with the x32 bit). Prints "ret N" or "errno N", so a test can
 * tell seccomp's EPERM from the kernel's own answer. Built static: the container may have no
 * libc at all (busybox). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long nr, a[3] = {0, 0, 0}, ret;
    int i;

    if (argc < 3 || argc > 6) {
        fprintf(stderr, "usage: syscall x86_64|i386|x32 NR [ARG...]\n");
        return 2;
    }
    nr = strtol(argv[2], NULL, 0);
    for (i = 3; i < argc; i++)
        a[i - 3] = strtol(argv[i], NULL, 0);
    if (strcmp(argv[1], "i386") == 0) {
        __asm__ volatile("int $0x80"
                         : "=a"(ret)
                         : "a"(nr), "b"(a[0]), "c"(a[1]), "d"(a[2])
                         : "memory");
        if (ret < 0 && ret > -4096) {
            printf("errno %ld\n", -ret);
            return 0;
        }
    } else {
        if (strcmp(argv[1], "x32") == 0)
            nr |= 0x40000000;
        ret = syscall(nr, a[0], a[1], a[2], 0L, 0L, 0L);
        if (ret == -1) {
            printf("errno %d\n", errno);
            return 0;
        }
    }
    printf("ret %ld\n", ret);
    return 0;
}
