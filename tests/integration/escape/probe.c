/*
 * hutch's escape probe: one attack on the host per subcommand, run inside a container
 * (`hutch exec ID /probe NAME ARGS`). Built static by tests/integration/test_sec_escape.py.
 *
 * Every attack really makes its system calls and reports honestly:
 *   "refused: WHY"   exit 0  the kernel (or hutch's confinement) said no
 *   "ESCAPED: WHAT"  exit 1  the operation went through (or got past its permission check)
 *   anything else    exit 2  the probe itself failed
 * Every payload is a no-op should it get through: values are written back unchanged, sysrq
 * gets 'h' (help), reboot only CAD on/off as the host has it, kexec and modules get flags or
 * images the kernel rejects after its permission check, the clock is set to the time just
 * read. Mount attacks run in a private mount namespace of the probe where it can make one,
 * so the container's own mounts stay as they were.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEY_SPEC_PROCESS_KEYRING -2
#define KEY_SPEC_USER_KEYRING -4
#define KEYCTL_GET_KEYRING_ID 0
#define KEYCTL_REVOKE 3
#define I386_KEXEC_LOAD 283
#define I386_INIT_MODULE 128
#define X32_BIT 0x40000000L
#define KEXEC_BAD_FLAG 0x40000000UL /* not a kexec flag: EINVAL once past the permission check */

static int refused(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("refused: ", stdout);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    return 0;
}

static int escaped(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ESCAPED: ", stdout);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    return 1;
}

static int broken(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("probe error: ", stdout);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    return 2;
}

static const char *en(int e)
{
    /* glibc's names are static strings: several en() in one printf each keep their own */
    const char *n = strerrorname_np(e);
    return n ? n : "?";
}

/* errno values that mean "not allowed" (or "not there at all") for a call */
static int is_refusal(int e, const int *ok)
{
    for (; *ok; ok++)
        if (*ok == e)
            return 1;
    return 0;
}

static const int PERM[] = {EPERM, EACCES, 0};
static const int PERM_NOSYS[] = {EPERM, EACCES, ENOSYS, 0};

/* A call that must fail with one of `ok`: any success, or any other errno (the permission
 * check passed and the kernel only rejected the deliberately harmless arguments), escapes. */
static int expect_refusal(const char *what, long ret, int err, const int *ok)
{
    if (ret >= 0)
        return escaped("%s succeeded (returned %ld)", what, ret);
    if (is_refusal(err, ok))
        return refused("%s: %s%s", what, en(err),
                       err == ENOSYS ? " (not in this kernel or refused as an ABI)" : "");
    return escaped("%s got past its permission check (%s on the harmless arguments)", what,
                   en(err));
}

static long xatol(const char *s)
{
    return strtol(s, NULL, 0);
}

/* a private mount namespace for the mount attacks: nothing they do outlives the probe */
static void private_mounts(void)
{
    if (unshare(CLONE_NEWNS) == 0)
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
}

static int read_file(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    int e = errno;
    close(fd);
    if (n < 0) {
        errno = e;
        return -1;
    }
    buf[n] = 0;
    return (int)n;
}

/* write back what a file holds now; returns 0 if the write went through, else -errno */
static int write_same(const char *path)
{
    char buf[4096];
    if (read_file(path, buf, sizeof buf) < 0)
        return -errno;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t n = strlen(buf);
    if (n == 0) {
        buf[0] = '\n';
        n = 1;
    }
    ssize_t w = write(fd, buf, n);
    int e = errno;
    close(fd);
    return w >= 0 ? 0 : -e;
}

/* write_same for expressions: 0, or -1 with errno set */
static long write_same_errno(const char *path)
{
    int r = write_same(path);
    errno = -r;
    return r == 0 ? 0 : -1;
}

/* write back the selected [value] of a sysfs choice file such as THP's "enabled" */
static int write_same_choice(const char *path)
{
    char buf[512], val[64];
    if (read_file(path, buf, sizeof buf) < 0)
        return -errno;
    char *a = strchr(buf, '['), *b = a ? strchr(a, ']') : NULL;
    if (!a || !b || b - a - 1 >= (long)sizeof val)
        return -EINVAL;
    memcpy(val, a + 1, b - a - 1);
    val[b - a - 1] = 0;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t w = write(fd, val, strlen(val));
    int e = errno;
    close(fd);
    return w >= 0 ? 0 : -e;
}

static int is_dev_null(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
}

/* ---- kernel-wide switches ------------------------------------------------------------- */

static int a_sysrq(int argc, char **argv)
{
    (void)argc, (void)argv;
    int fd = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return refused("open /proc/sysrq-trigger: %s", en(errno));
    if (is_dev_null(fd)) {
        close(fd);
        return refused("/proc/sysrq-trigger is masked by /dev/null");
    }
    ssize_t n = write(fd, "h", 1); /* 'h': print the help, nothing else */
    int e = errno;
    close(fd);
    return n == 1 ? escaped("wrote 'h' to the host's sysrq-trigger")
                  : refused("write sysrq-trigger: %s", en(e));
}

static int a_reboot(int argc, char **argv)
{
    /* argv[2]: the host's kernel.ctrl-alt-del now, so the command changes nothing */
    unsigned int cmd = argc > 2 && xatol(argv[2]) ? LINUX_REBOOT_CMD_CAD_ON
                                                   : LINUX_REBOOT_CMD_CAD_OFF;
    long r = syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, cmd, NULL);
    int e = errno;
    static const int ok[] = {EPERM, EACCES, EINVAL, 0}; /* EINVAL: pid namespace, see reboot(2) */
    if (r < 0 && e == EINVAL)
        return refused("reboot(CAD): EINVAL (a pid namespace only restarts or halts itself)");
    return expect_refusal("reboot(LINUX_REBOOT_CMD_CAD_*)", r, e, ok);
}

static int a_clock_settime(int argc, char **argv)
{
    (void)argc, (void)argv;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long r = syscall(SYS_clock_settime, CLOCK_REALTIME, &ts);
    return expect_refusal("clock_settime(CLOCK_REALTIME, now)", r, errno, PERM);
}

static int a_settimeofday(int argc, char **argv)
{
    (void)argc, (void)argv;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    long r = syscall(SYS_settimeofday, &tv, NULL);
    return expect_refusal("settimeofday(now)", r, errno, PERM);
}

static int a_adjtimex(int argc, char **argv)
{
    (void)argc, (void)argv;
    struct timex tx = {0};
    if (adjtimex(&tx) < 0)
        return refused("adjtimex (read): %s", en(errno));
    tx.modes = ADJ_FREQUENCY; /* the frequency it has now */
    long r = adjtimex(&tx);
    return expect_refusal("adjtimex(ADJ_FREQUENCY, unchanged)", r, errno, PERM);
}

static const char JUNK[64] = "this is not an ELF kernel module";

static int a_init_module(int argc, char **argv)
{
    (void)argc, (void)argv;
    long r = syscall(SYS_init_module, JUNK, sizeof JUNK, "");
    return expect_refusal("init_module(garbage)", r, errno, PERM_NOSYS);
}

static int a_finit_module(int argc, char **argv)
{
    (void)argc, (void)argv;
    int fd = open("/tmp/hutch-junk.ko", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return broken("create /tmp/hutch-junk.ko: %s", en(errno));
    if (write(fd, JUNK, sizeof JUNK) != sizeof JUNK)
        return broken("write junk module");
    long r = syscall(SYS_finit_module, fd, "", 0);
    int e = errno;
    close(fd);
    unlink("/tmp/hutch-junk.ko");
    return expect_refusal("finit_module(garbage)", r, e, PERM_NOSYS);
}

static int a_delete_module(int argc, char **argv)
{
    (void)argc, (void)argv;
    long r = syscall(SYS_delete_module, "hutch_no_such_module", O_NONBLOCK);
    return expect_refusal("delete_module(no such module)", r, errno, PERM_NOSYS);
}

static int a_kexec_load(int argc, char **argv)
{
    (void)argc, (void)argv;
    long r = syscall(SYS_kexec_load, 0UL, 0UL, NULL, KEXEC_BAD_FLAG);
    return expect_refusal("kexec_load(0 segments, bad flag)", r, errno, PERM_NOSYS);
}

static int a_kexec_file_load(int argc, char **argv)
{
    (void)argc, (void)argv;
    long r = syscall(SYS_kexec_file_load, -1, -1, 0UL, "", KEXEC_BAD_FLAG);
    return expect_refusal("kexec_file_load(no kernel, bad flag)", r, errno, PERM_NOSYS);
}

static long int80(long nr, long a, long b, long c, long d)
{
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d)
                     : "memory", "r8", "r9", "r10", "r11");
    return ret;
}

/* Run an attack in a child: seccomp may kill the caller of a foreign ABI (SIGSYS). */
static int in_child(int (*fn)(int, char **), int argc, char **argv)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return broken("fork: %s", en(errno));
    if (pid == 0) {
        int r = fn(argc, argv);
        fflush(stdout);
        _exit(r);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
        return refused("the calling process was killed by SIGSYS (seccomp)");
    if (WIFSIGNALED(status))
        return broken("the attacking child died of signal %d", WTERMSIG(status));
    return WEXITSTATUS(status);
}

static int kexec_i386(int argc, char **argv)
{
    (void)argc, (void)argv;
    long r = int80(I386_KEXEC_LOAD, 0, 0, 0, (long)KEXEC_BAD_FLAG);
    return expect_refusal("i386 kexec_load via int $0x80", r < 0 ? -1 : r, r < 0 ? (int)-r : 0,
                          PERM_NOSYS);
}

static int a_kexec_i386(int argc, char **argv)
{
    return in_child(kexec_i386, argc, argv);
}

static int module_i386(int argc, char **argv)
{
    (void)argc, (void)argv;
    /* the image must sit below 4 GiB for the 32-bit ABI */
    char *img = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
                     -1, 0);
    if (img == MAP_FAILED)
        return broken("mmap MAP_32BIT: %s", en(errno));
    memcpy(img, JUNK, sizeof JUNK);
    long r = int80(I386_INIT_MODULE, (long)img, sizeof JUNK, (long)(img + 100), 0);
    return expect_refusal("i386 init_module via int $0x80", r < 0 ? -1 : r, r < 0 ? (int)-r : 0,
                          PERM_NOSYS);
}

static int a_module_i386(int argc, char **argv)
{
    return in_child(module_i386, argc, argv);
}

static int kexec_x32(int argc, char **argv)
{
    (void)argc, (void)argv;
    long r = syscall(X32_BIT | SYS_kexec_load, 0UL, 0UL, NULL, KEXEC_BAD_FLAG);
    return expect_refusal("x32 kexec_load", r, errno, PERM_NOSYS);
}

static int a_kexec_x32(int argc, char **argv)
{
    return in_child(kexec_x32, argc, argv);
}

static int a_syslog(int argc, char **argv)
{
    (void)argc, (void)argv;
    static char buf[4096];
    long r = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, sizeof buf);
    return expect_refusal("syslog(READ_ALL) of the host kernel log", r, errno, PERM);
}

static int a_acct(int argc, char **argv)
{
    (void)argc, (void)argv;
    long r = acct("/nonexistent/hutch-acct"); /* ENOENT once past the permission check */
    return expect_refusal("acct(missing file)", r, errno, PERM_NOSYS);
}

static int a_swapon(int argc, char **argv)
{
    (void)argc, (void)argv;
    long r = swapon("/nonexistent/hutch-swap", 0);
    return expect_refusal("swapon(missing file)", r, errno, PERM_NOSYS);
}

static int a_swapoff(int argc, char **argv)
{
    (void)argc, (void)argv;
    long r = swapoff("/nonexistent/hutch-swap");
    return expect_refusal("swapoff(missing file)", r, errno, PERM_NOSYS);
}

static int a_iopl(int argc, char **argv)
{
    (void)argc, (void)argv;
    long r = iopl(3);
    int e = errno;
    if (r == 0)
        iopl(0);
    return expect_refusal("iopl(3)", r, e, PERM_NOSYS);
}

static int a_ioperm(int argc, char **argv)
{
    (void)argc, (void)argv;
    long r = ioperm(0x80, 1, 1);
    int e = errno;
    if (r == 0)
        ioperm(0x80, 1, 0);
    return expect_refusal("ioperm(0x80)", r, e, PERM_NOSYS);
}

static int a_bpf(int argc, char **argv)
{
    (void)argc, (void)argv;
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    long r = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
    int e = errno;
    if (r >= 0)
        close((int)r);
    return expect_refusal("bpf(BPF_MAP_CREATE)", r, e, PERM_NOSYS);
}

static int a_perf(int argc, char **argv)
{
    (void)argc, (void)argv;
    struct perf_event_attr pa;
    memset(&pa, 0, sizeof pa);
    pa.type = PERF_TYPE_SOFTWARE;
    pa.size = sizeof pa;
    pa.config = PERF_COUNT_SW_CPU_CLOCK;
    pa.disabled = 1;
    /* pid -1, cpu 0: every process of the host on CPU 0 */
    long r = syscall(SYS_perf_event_open, &pa, -1, 0, -1, 0);
    int e = errno;
    if (r >= 0)
        close((int)r);
    return expect_refusal("perf_event_open(system-wide)", r, e, PERM_NOSYS);
}

static int a_userfaultfd(int argc, char **argv)
{
    (void)argc, (void)argv;
    long r = syscall(SYS_userfaultfd, O_CLOEXEC);
    int e = errno;
    if (r >= 0)
        close((int)r);
    return expect_refusal("userfaultfd (kernel faults too)", r, e, PERM_NOSYS);
}

static int a_add_key(int argc, char **argv)
{
    (void)argc, (void)argv;
    long r = syscall(SYS_add_key, "user", "hutch-escape-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING);
    int e = errno;
    if (r >= 0)
        syscall(SYS_keyctl, KEYCTL_REVOKE, r);
    return expect_refusal("add_key(user, process keyring)", r, e, PERM_NOSYS);
}

static int a_keyctl(int argc, char **argv)
{
    (void)argc, (void)argv;
    /* the user keyring of uid 0: the host root's, without a user namespace */
    long r = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0);
    return expect_refusal("keyctl(GET_KEYRING_ID, user keyring)", r, errno, PERM_NOSYS);
}

static int a_request_key(int argc, char **argv)
{
    (void)argc, (void)argv;
    long r = syscall(SYS_request_key, "user", "hutch-no-such-key", NULL, 0);
    static const int ok[] = {EPERM, EACCES, ENOSYS, 0};
    return expect_refusal("request_key(user, missing)", r, errno, ok);
}

/* ---- devices ------------------------------------------------------------------------- */

static int make_node(const char *path, mode_t type, long maj, long min)
{
    unlink(path);
    return mknod(path, type | 0600, makedev(maj, min));
}

static int a_disk(int argc, char **argv)
{
    if (argc < 4)
        return broken("usage: disk MAJOR MINOR");
    const char *node = "/tmp/hutch-disk";
    if (make_node(node, S_IFBLK, xatol(argv[2]), xatol(argv[3])) < 0)
        return refused("mknod of the host disk %s:%s: %s", argv[2], argv[3], en(errno));
    int fd = open(node, O_RDONLY | O_CLOEXEC);
    int e = errno;
    unlink(node);
    if (fd < 0)
        return refused("open of the host disk node: %s", en(e));
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return escaped("opened the host disk %s:%s and read %zd bytes", argv[2], argv[3], n);
}

static int a_disk_mount(int argc, char **argv)
{
    if (argc < 6)
        return broken("usage: disk_mount MAJOR MINOR FSTYPE MARKER");
    private_mounts();
    const char *node = "/tmp/hutch-disk", *mnt = "/tmp/hutch-disk-mnt";
    if (make_node(node, S_IFBLK, xatol(argv[2]), xatol(argv[3])) < 0)
        return refused("mknod of the host disk %s:%s: %s", argv[2], argv[3], en(errno));
    mkdir(mnt, 0700);
    unsigned long fl = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    long r = mount(node, mnt, argv[4], fl, NULL);
    int e = errno;
    if (r < 0 && e == EBUSY) {
        /* the host has it mounted read-write: the kernel reuses that superblock, so ask
         * for the same (no write is made; it is unmounted at once) */
        r = mount(node, mnt, argv[4], fl & ~MS_RDONLY, NULL);
        e = errno;
    }
    unlink(node);
    if (r == 0) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s%s", mnt, argv[5]);
        int seen = stat(path, &st) == 0;
        umount2(mnt, MNT_DETACH);
        rmdir(mnt);
        return escaped("mounted the host disk %s:%s%s", argv[2], argv[3],
                       seen ? " and saw the host's marker file" : "");
    }
    rmdir(mnt);
    return expect_refusal("mount of the host disk", r, e, PERM);
}

static int chardev(const char *name, long maj, long min, int flags)
{
    char node[64];
    snprintf(node, sizeof node, "/tmp/hutch-%s", name);
    if (make_node(node, S_IFCHR, maj, min) < 0)
        return refused("mknod /dev/%s (%ld:%ld): %s", name, maj, min, en(errno));
    int fd = open(node, flags | O_CLOEXEC);
    int e = errno;
    unlink(node);
    if (fd < 0)
        return refused("open /dev/%s (%ld:%ld): %s", name, maj, min, en(e));
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return escaped("opened /dev/%s and read %zd bytes", name, n);
}

static int a_dev_mem(int argc, char **argv)
{
    (void)argc, (void)argv;
    return chardev("mem", 1, 1, O_RDONLY);
}

static int a_dev_port(int argc, char **argv)
{
    (void)argc, (void)argv;
    return chardev("port", 1, 4, O_RDONLY);
}

static int a_dev_kmsg(int argc, char **argv)
{
    (void)argc, (void)argv;
    return chardev("kmsg", 1, 11, O_RDONLY | O_NONBLOCK);
}

/* ---- network ------------------------------------------------------------------------- */

static int a_packet(int argc, char **argv)
{
    if (argc < 4)
        return broken("usage: packet HOST_IFNAME HOST_IFINDEX");
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (s < 0)
        return refused("socket(AF_PACKET): %s", en(errno));
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", argv[2]);
    int by_name = ioctl(s, SIOCGIFINDEX, &ifr) == 0;
    int name_err = errno;
    struct sockaddr_ll sll = {0};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = by_name ? ifr.ifr_ifindex : (int)xatol(argv[3]);
    int r = bind(s, (struct sockaddr *)&sll, sizeof sll);
    int e = errno;
    char got[IF_NAMESIZE] = "";
    if (r == 0) {
        memset(&ifr, 0, sizeof ifr);
        ifr.ifr_ifindex = sll.sll_ifindex;
        if (ioctl(s, SIOCGIFNAME, &ifr) == 0)
            snprintf(got, sizeof got, "%s", ifr.ifr_name);
    }
    close(s);
    if (by_name && r == 0)
        return escaped("a raw socket bound to the host's %s", argv[2]);
    if (r == 0 && strcmp(got, argv[2]) == 0)
        return escaped("a raw socket bound to host ifindex %s (%s)", argv[3], got);
    if (r == 0)
        return refused("%s: %s; ifindex %s here is the container's own %s", argv[2],
                       en(name_err), argv[3], got);
    return refused("%s: %s; bind to ifindex %s: %s", argv[2], en(name_err), argv[3], en(e));
}

/* -- bridge: forged frames onto the container's own link (issue 12 item 7) -- */

/* Not an escape by itself: sends the frames given as hex (whole Ethernet frames, the test
 * crafts them) out of IFNAME with an AF_PACKET socket, as a container's root can. The host's
 * filter is judged on the other side of the bridge (test_net_filter.py). */
static int a_spoof_send(int argc, char **argv)
{
    if (argc < 4)
        return broken("usage: spoof_send IFNAME HEXFRAME...");
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (s < 0)
        return broken("socket(AF_PACKET): %s", en(errno));
    struct sockaddr_ll sll = {0};
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = (int)if_nametoindex(argv[2]);
    if (!sll.sll_ifindex)
        return broken("%s: %s", argv[2], en(errno));
    int sent = 0;
    for (int i = 3; i < argc; i++) {
        unsigned char frame[1600];
        size_t n = strlen(argv[i]) / 2;
        if (n > sizeof frame || n < 14)
            return broken("frame %d: %zu bytes", i - 2, n);
        for (size_t j = 0; j < n; j++) {
            unsigned v;
            if (sscanf(argv[i] + 2 * j, "%2x", &v) != 1)
                return broken("frame %d: not hex", i - 2);
            frame[j] = (unsigned char)v;
        }
        if (sendto(s, frame, n, 0, (struct sockaddr *)&sll, sizeof sll) != (ssize_t)n)
            return broken("sendto %s: %s", argv[2], en(errno));
        sent++;
    }
    close(s);
    printf("sent: %d frames\n", sent);
    return 0;
}

/* -- bridge: end -- */

/* ---- other namespaces and processes ---------------------------------------------------- */

/* Is the host's process PID visible here as itself (its cmdline holds MARK)? */
static int host_pid_here(const char *pid, const char *mark, char *why, size_t len)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%s/cmdline", pid);
    int n = read_file(path, buf, sizeof buf);
    if (n < 0) {
        snprintf(why, len, "/proc/%s: %s", pid, en(errno));
        return 0;
    }
    for (int i = 0; i < n; i++)
        if (!buf[i])
            buf[i] = ' ';
    if (!strstr(buf, mark)) {
        snprintf(why, len, "pid %s here is the container's own %.60s", pid, buf);
        return 0;
    }
    return 1;
}

static int a_host_proc(int argc, char **argv)
{
    if (argc < 4)
        return broken("usage: host_proc PID MARK");
    char why[256];
    if (!host_pid_here(argv[2], argv[3], why, sizeof why))
        return refused("%s", why);
    return escaped("/proc/%s shows the host's process (%s)", argv[2], argv[3]);
}

static int a_setns_host(int argc, char **argv)
{
    if (argc < 3)
        return broken("usage: setns_host PID");
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/ns/mnt", argv[2]);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return refused("open %s: %s", path, en(errno));
    long r = setns(fd, CLONE_NEWNS);
    int e = errno;
    close(fd);
    return expect_refusal("setns into the host's mount namespace", r, e, PERM);
}

static int a_ptrace(int argc, char **argv)
{
    if (argc < 4)
        return broken("usage: ptrace PID MARK");
    char why[256];
    pid_t pid = (pid_t)xatol(argv[2]);
    long r = ptrace(PTRACE_SEIZE, pid, NULL, NULL); /* SEIZE: the tracee is not stopped */
    int e = errno;
    if (r == 0) {
        int host = host_pid_here(argv[2], argv[3], why, sizeof why);
        ptrace(PTRACE_DETACH, pid, NULL, NULL);
        if (!host)
            return refused("seized pid %s, but %s", argv[2], why);
        return escaped("ptrace(SEIZE) of the host's process %s", argv[2]);
    }
    static const int ok[] = {EPERM, EACCES, ESRCH, 0};
    return expect_refusal("ptrace(SEIZE) of a host pid", r, e, ok);
}

static int a_pidfd_open(int argc, char **argv)
{
    if (argc < 4)
        return broken("usage: pidfd_open PID MARK");
    char why[256];
    long r = syscall(SYS_pidfd_open, (pid_t)xatol(argv[2]), 0);
    int e = errno;
    if (r >= 0) {
        close((int)r);
        if (!host_pid_here(argv[2], argv[3], why, sizeof why))
            return refused("opened pid %s, but %s", argv[2], why);
    }
    static const int ok[] = {EPERM, EACCES, ESRCH, 0};
    return expect_refusal("pidfd_open of a host pid", r, e, ok);
}

static int a_process_vm_readv(int argc, char **argv)
{
    if (argc < 4)
        return broken("usage: process_vm_readv PID MARK");
    char why[256], buf[8];
    struct iovec local = {buf, sizeof buf}, remote = {(void *)0x10000, sizeof buf};
    long r = process_vm_readv((pid_t)xatol(argv[2]), &local, 1, &remote, 1, 0);
    int e = errno;
    if ((r >= 0 || e == EFAULT) && !host_pid_here(argv[2], argv[3], why, sizeof why))
        return refused("reached pid %s, but %s", argv[2], why);
    static const int ok[] = {EPERM, EACCES, ESRCH, 0};
    return expect_refusal("process_vm_readv of a host pid", r, e, ok);
}

static int a_kill(int argc, char **argv)
{
    if (argc < 4)
        return broken("usage: kill PID MARK");
    char why[256];
    long r = kill((pid_t)xatol(argv[2]), 0); /* signal 0: only the permission check */
    int e = errno;
    if (r == 0 && !host_pid_here(argv[2], argv[3], why, sizeof why))
        return refused("signalled pid %s, but %s", argv[2], why);
    static const int ok[] = {EPERM, ESRCH, 0};
    return expect_refusal("kill(host pid, 0)", r, e, ok);
}

/* ---- cgroups ------------------------------------------------------------------------- */

static int write_release_agents(const char *top, char *done, size_t len)
{
    char path[4096];
    int wrote = 0;
    snprintf(path, sizeof path, "%s/release_agent", top);
    if (access(path, F_OK) == 0) {
        int r = write_same(path);
        size_t o = strlen(done);
        snprintf(done + o, len - o, " %s:%s", path, r == 0 ? "WRITTEN" : en(-r));
        wrote |= r == 0;
    }
    DIR *d = opendir(top);
    if (!d)
        return wrote;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s/release_agent", top, de->d_name);
        if (access(path, F_OK) != 0)
            continue;
        int r = write_same(path);
        size_t o = strlen(done);
        snprintf(done + o, len - o, " %s:%s", path, r == 0 ? "WRITTEN" : en(-r));
        wrote |= r == 0;
    }
    closedir(d);
    return wrote;
}

static int a_release_agent(int argc, char **argv)
{
    (void)argc, (void)argv;
    char done[4096] = "";
    if (write_release_agents("/sys/fs/cgroup", done, sizeof done))
        return escaped("wrote a release_agent:%s", done);
    return refused("no release_agent writable:%s", done[0] ? done : " none reachable");
}

static int a_cgroup_mount(int argc, char **argv)
{
    (void)argc, (void)argv;
    private_mounts();
    const char *mnt = "/tmp/hutch-cg";
    static const char *opts[] = {"none,name=hutchescape", "pids", "memory", NULL};
    char done[4096] = "", log[1024] = "";
    mkdir(mnt, 0700);
    for (const char **o = opts; *o; o++) {
        size_t l = strlen(log);
        if (mount("cgroup", mnt, "cgroup", MS_NOSUID | MS_NODEV | MS_NOEXEC, *o) < 0) {
            snprintf(log + l, sizeof log - l, " %s:%s", *o, en(errno));
            continue;
        }
        snprintf(log + l, sizeof log - l, " %s:mounted", *o);
        int wrote = write_release_agents(mnt, done, sizeof done);
        umount2(mnt, MNT_DETACH);
        if (wrote) {
            rmdir(mnt);
            return escaped("a fresh cgroup mount (%s) gave a writable release_agent:%s", *o,
                           done);
        }
        if (strncmp(*o, "none,name=", 10) == 0) {
            rmdir(mnt);
            return escaped("created a new cgroup v1 hierarchy (%s)", *o);
        }
    }
    rmdir(mnt);
    return refused("no new hierarchy, no release_agent:%s%s", log, done);
}

/* Write "max" to the container's own limits, then prove them still enforced by going over
 * them: argv[2] MiB of memory in a child. */
static int memhog(long mib, char *why, size_t len);

static int a_raise_limits(int argc, char **argv)
{
    if (argc < 3)
        return broken("usage: raise_limits MIB");
    static const char *knobs[] = {
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes",
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/unified/memory.max",
        NULL,
    };
    char log[2048] = "", why[256];
    for (const char **k = knobs; *k; k++) {
        int fd = open(*k, O_WRONLY | O_CLOEXEC);
        size_t l = strlen(log);
        if (fd < 0) {
            if (errno != ENOENT)
                snprintf(log + l, sizeof log - l, " %s:%s", *k, en(errno));
            continue;
        }
        const char *v = strstr(*k, "limit_in_bytes") ? "-1" : "max";
        ssize_t w = write(fd, v, strlen(v));
        snprintf(log + l, sizeof log - l, " %s:%s", *k, w >= 0 ? "written" : en(errno));
        close(fd);
    }
    if (memhog(xatol(argv[2]), why, sizeof why))
        return escaped("after writing%s the container allocated %s MiB", log, argv[2]);
    return refused("after writing%s: %s", log, why);
}

/* ---- mounts ------------------------------------------------------------------------- */

static int a_remount_proc_sys(int argc, char **argv)
{
    (void)argc, (void)argv;
    private_mounts();
    long r = mount(NULL, "/proc/sys", NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                   NULL);
    int re = errno;
    int w = write_same("/proc/sys/kernel/core_pattern");
    if (w == 0)
        return escaped("wrote the host's kernel.core_pattern (remount: %s)", r ? en(re) : "ok");
    if (r == 0)
        return escaped("remounted /proc/sys read-write (core_pattern write: %s)", en(-w));
    return refused("remount /proc/sys rw: %s; write core_pattern: %s", en(re), en(-w));
}

static int a_remount_proc(int argc, char **argv)
{
    (void)argc, (void)argv;
    private_mounts();
    /* the proc superblock itself, and the masked file bound on it */
    long r = mount(NULL, "/proc", NULL, MS_REMOUNT, NULL);
    int re = errno;
    long r2 = mount(NULL, "/proc/sysrq-trigger", NULL, MS_REMOUNT | MS_BIND, NULL);
    int re2 = errno;
    int fd = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
    int unmasked = fd >= 0 && !is_dev_null(fd);
    if (fd >= 0)
        close(fd);
    if (unmasked)
        return escaped("after remounting /proc the real sysrq-trigger opens for writing");
    return refused("remount /proc: %s, /proc/sysrq-trigger: %s; the mask stays",
                   r ? en(re) : "ok", r2 ? en(re2) : "ok");
}

static int a_umount_masks(int argc, char **argv)
{
    (void)argc, (void)argv;
    private_mounts();
    static const char *masks[] = {"/proc/sysrq-trigger", "/proc/kcore", "/proc/keys",
                                  "/sys/firmware", NULL};
    char log[1024] = "";
    int any = 0;
    for (const char **m = masks; *m; m++) {
        size_t l = strlen(log);
        int r = umount2(*m, MNT_DETACH);
        snprintf(log + l, sizeof log - l, " %s:%s", *m, r == 0 ? "UNMOUNTED" : en(errno));
        any |= r == 0;
    }
    int fd = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
    int unmasked = fd >= 0 && !is_dev_null(fd);
    if (fd >= 0)
        close(fd);
    if (any || unmasked)
        return escaped("unmounted masks:%s%s", log,
                       unmasked ? "; the real sysrq-trigger opens for writing" : "");
    return refused("masks stay:%s", log);
}

static int a_umount_proc_sys(int argc, char **argv)
{
    (void)argc, (void)argv;
    private_mounts();
    char log[512] = "";
    for (int i = 0; i < 4; i++) { /* /proc/sys/net on top, then /proc/sys */
        size_t l = strlen(log);
        int r = umount2("/proc/sys/net", MNT_DETACH);
        int r2 = umount2("/proc/sys", MNT_DETACH);
        snprintf(log + l, sizeof log - l, " %s/%s", r ? en(errno) : "net-gone",
                 r2 ? en(errno) : "sys-gone");
    }
    int w = write_same("/proc/sys/kernel/core_pattern");
    if (w == 0)
        return escaped("unmounted /proc/sys (%s) and wrote core_pattern", log);
    return refused("umount /proc/sys:%s; core_pattern: %s", log, en(-w));
}

static int a_remount_sys(int argc, char **argv)
{
    (void)argc, (void)argv;
    private_mounts();
    long r = mount(NULL, "/sys", NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    int re = errno;
    long r2 = mount(NULL, "/sys", NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                    NULL);
    int re2 = errno;
    int w = write_same_choice("/sys/kernel/mm/transparent_hugepage/enabled");
    if (w == 0)
        return escaped("wrote the host's transparent_hugepage/enabled through /sys");
    if (r == 0 || r2 == 0)
        return escaped("remounted /sys read-write (%s/%s; THP write: %s)", r ? en(re) : "sb ok",
                       r2 ? en(re2) : "bind ok", en(-w));
    return refused("remount /sys rw: %s, bind: %s; THP write: %s", en(re), en(re2), en(-w));
}

static int a_proc_mount(int argc, char **argv)
{
    (void)argc, (void)argv;
    private_mounts();
    const char *mnt = "/tmp/hutch-proc";
    mkdir(mnt, 0700);
    long r = mount("proc", mnt, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    int e = errno;
    if (r < 0) {
        rmdir(mnt);
        return refused("mount of a fresh proc: %s", en(e));
    }
    int w = write_same("/tmp/hutch-proc/sys/kernel/core_pattern");
    int fd = open("/tmp/hutch-proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
    int sysrq = fd >= 0;
    if (fd >= 0)
        close(fd);
    umount2(mnt, MNT_DETACH);
    rmdir(mnt);
    if (w == 0 || sysrq)
        return escaped("a fresh proc mount: core_pattern %s, sysrq-trigger %s",
                       w == 0 ? "WRITTEN" : en(-w), sysrq ? "OPENS FOR WRITING" : "refused");
    return refused("a fresh proc mounts, but core_pattern: %s, sysrq-trigger refused", en(-w));
}

static int a_sysfs_mount(int argc, char **argv)
{
    (void)argc, (void)argv;
    private_mounts();
    const char *mnt = "/tmp/hutch-sys";
    mkdir(mnt, 0700);
    long r = mount("sysfs", mnt, "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    int e = errno;
    if (r < 0) {
        rmdir(mnt);
        return refused("mount of a fresh sysfs: %s", en(e));
    }
    int w = write_same_choice("/tmp/hutch-sys/kernel/mm/transparent_hugepage/enabled");
    umount2(mnt, MNT_DETACH);
    rmdir(mnt);
    if (w == 0)
        return escaped("a fresh sysfs mount: wrote the host's transparent_hugepage/enabled");
    return refused("a fresh sysfs mounts read-only in effect: THP write %s", en(-w));
}

static int fs_mount(const char *fstype)
{
    private_mounts();
    char mnt[64];
    snprintf(mnt, sizeof mnt, "/tmp/hutch-%s", fstype);
    mkdir(mnt, 0700);
    long r = mount(fstype, mnt, fstype, MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL);
    int e = errno;
    if (r == 0)
        umount2(mnt, MNT_DETACH);
    rmdir(mnt);
    static const int ok[] = {EPERM, EACCES, ENODEV, 0}; /* ENODEV: not in this kernel */
    char what[64];
    snprintf(what, sizeof what, "mount of %s", fstype);
    return expect_refusal(what, r, e, ok);
}

static int a_debugfs(int argc, char **argv)
{
    (void)argc, (void)argv;
    return fs_mount("debugfs");
}

static int a_tracefs(int argc, char **argv)
{
    (void)argc, (void)argv;
    return fs_mount("tracefs");
}

static int a_securityfs(int argc, char **argv)
{
    (void)argc, (void)argv;
    return fs_mount("securityfs");
}

/* ---- the root ------------------------------------------------------------------------- */

static int a_chroot(int argc, char **argv)
{
    if (argc < 3)
        return broken("usage: chroot HOST_MARKER");
    mkdir("/tmp/hutch-chroot", 0700);
    if (chroot("/tmp/hutch-chroot") < 0)
        return refused("chroot: %s", en(errno));
    for (int i = 0; i < 64; i++)
        if (chdir("..") < 0)
            break;
    if (chroot(".") < 0)
        return refused("second chroot: %s", en(errno));
    struct stat st;
    if (stat(argv[2], &st) == 0)
        return escaped("chroot ../.. reached the host: %s exists", argv[2]);
    int ours = stat("/probe", &st) == 0;
    rmdir("/tmp/hutch-chroot");
    return refused("../ stops at the container's root (%s)",
                   ours ? "/probe is there" : "not even /probe is there");
}

static int a_open_by_handle(int argc, char **argv)
{
    if (argc < 3)
        return broken("usage: open_by_handle HOST_MARKER");
    struct {
        struct file_handle fh;
        unsigned char more[128];
    } h;
    int mnt_id;
    h.fh.handle_bytes = 128;
    if (name_to_handle_at(AT_FDCWD, "/", &h.fh, &mnt_id, 0) < 0)
        return refused("name_to_handle_at(/): %s", en(errno));
    int rootfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = open_by_handle_at(rootfd, &h.fh, O_RDONLY | O_DIRECTORY);
    int e = errno;
    if (fd < 0) {
        close(rootfd);
        return expect_refusal("open_by_handle_at", -1, e, PERM);
    }
    close(fd);
    /* "shocker": the handle of inode 2, the root of the filesystem the rootfs lives on */
    const char *reached = "";
    if (h.fh.handle_type == 1 /* FILEID_INO32_GEN */ && h.fh.handle_bytes >= 8) {
        unsigned int *f = (unsigned int *)h.fh.f_handle;
        f[0] = 2;
        f[1] = 0;
        fd = open_by_handle_at(rootfd, &h.fh, O_RDONLY | O_DIRECTORY);
        if (fd >= 0) {
            struct stat st;
            const char *rel = argv[2][0] == '/' ? argv[2] + 1 : argv[2];
            reached = fstatat(fd, rel, &st, 0) == 0 ? " and the host's marker file by inode 2"
                                                    : " and inode 2 of the root filesystem";
            close(fd);
        }
    }
    close(rootfd);
    return escaped("open_by_handle_at works%s", reached);
}

/* ---- file descriptors and executables ------------------------------------------------- */

static int check_fds(const char *dir, int self, char *log, size_t len)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(log + strlen(log), len - strlen(log), " %s:%s", dir, en(errno));
        return 0;
    }
    int bad = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        int fd = atoi(de->d_name);
        if (self && fd == dirfd(d))
            continue;
        char path[512], link[512] = "";
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        ssize_t n = readlink(path, link, sizeof link - 1);
        link[n > 0 ? n : 0] = 0;
        int st_ok = stat(path, &st) == 0;
        int file = st_ok && (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode));
        size_t o = strlen(log);
        snprintf(log + o, len - o, " %s:%s->%s", dir, de->d_name, link);
        if (fd > 2 || file) {
            bad = 1;
            o = strlen(log);
            snprintf(log + o, len - o, "(LEAKED%s)", file ? ", a file or directory" : "");
        }
    }
    closedir(d);
    return bad;
}

static int a_fds(int argc, char **argv)
{
    (void)argc, (void)argv;
    char log[4096] = "";
    int bad = check_fds("/proc/self/fd", 1, log, sizeof log);
    bad |= check_fds("/proc/1/fd", 0, log, sizeof log);
    return bad ? escaped("fds beyond stdio:%s", log) : refused("only stdio:%s", log);
}

/* Watch /proc for a process whose exe is the host's binary DEV:INO (a `hutch exec` between
 * its fork and execve) for SECONDS; if one shows, try to open that binary for writing. */
static int a_exe_watch(int argc, char **argv)
{
    if (argc < 5)
        return broken("usage: exe_watch DEV INO SECONDS");
    unsigned long long dev = strtoull(argv[2], NULL, 0), ino = strtoull(argv[3], NULL, 0);
    double secs = atof(argv[4]);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    static int seen[1 << 16];
    int seen_n = 0, passes = 0;
    pid_t me = getpid();
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 > secs)
            break;
        passes++;
        DIR *d = opendir("/proc");
        if (!d)
            return broken("opendir /proc: %s", en(errno));
        struct dirent *de;
        while ((de = readdir(d))) {
            int pid = atoi(de->d_name);
            if (pid <= 0 || pid == me)
                continue;
            if (pid < (1 << 16) && !seen[pid]) {
                seen[pid] = 1;
                seen_n++;
            }
            char path[64];
            struct stat st;
            snprintf(path, sizeof path, "/proc/%d/exe", pid);
            if (stat(path, &st) < 0)
                continue;
            if ((unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino) {
                int rfd = open(path, O_RDONLY | O_CLOEXEC);
                int re = errno;
                int wfd = open(path, O_WRONLY | O_CLOEXEC); /* opened only: nothing written */
                int we = errno;
                if (rfd >= 0)
                    close(rfd);
                if (wfd >= 0) {
                    close(wfd);
                    return escaped("pid %d runs the host's binary and it opened for WRITING",
                                   pid);
                }
                if (rfd >= 0)
                    return escaped("pid %d runs the host's binary; it opened for reading "
                                   "(the CVE-2019-5736 precondition), writing: %s",
                                   pid, en(we));
                return refused("pid %d runs the host's binary, but open: %s/%s", pid, en(re),
                               en(we));
            }
        }
        closedir(d);
    }
    return refused("no process ran the host's binary: %d passes over /proc, %d pids seen", passes,
                   seen_n);
}

/* ---- resources ---------------------------------------------------------------------- */

/* Touch `mib` MiB in a child; 1 if it got all of it, 0 (with why) if it did not. */
static int memhog(long mib, char *why, size_t len)
{
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, len, "fork: %s", en(errno));
        return 0;
    }
    if (pid == 0) {
        for (long i = 0; i < mib; i++) {
            char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                           -1, 0);
            if (p == MAP_FAILED)
                _exit(3);
            memset(p, 0x5a, 1 << 20);
        }
        _exit(0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 1;
    if (WIFSIGNALED(status))
        snprintf(why, len, "the hog (%ld MiB) was killed by signal %d", mib, WTERMSIG(status));
    else
        snprintf(why, len, "the hog (%ld MiB) exited %d", mib, WEXITSTATUS(status));
    return 0;
}

static int a_memhog(int argc, char **argv)
{
    if (argc < 3)
        return broken("usage: memhog MIB");
    char why[256];
    if (memhog(xatol(argv[2]), why, sizeof why))
        return escaped("allocated and touched %s MiB", argv[2]);
    return refused("%s", why);
}

static int a_forkbomb(int argc, char **argv)
{
    if (argc < 3)
        return broken("usage: forkbomb MAX");
    long max = xatol(argv[2]);
    pid_t *kids = calloc(max, sizeof *kids);
    long n = 0;
    int e = 0;
    for (; n < max; n++) {
        pid_t p = fork();
        if (p < 0) {
            e = errno;
            break;
        }
        if (p == 0) {
            pause();
            _exit(0);
        }
        kids[n] = p;
    }
    for (long i = 0; i < n; i++)
        kill(kids[i], SIGKILL);
    for (long i = 0; i < n; i++)
        waitpid(kids[i], NULL, 0);
    if (n == max)
        return escaped("forked %ld processes without refusal", n);
    return refused("fork: %s after %ld processes", en(e), n);
}

/* ---- a user namespace of one's own, then the host-level writes again ------------------ */

static int a_userns(int argc, char **argv)
{
    if (argc < 3)
        return broken("usage: userns CTRL_ALT_DEL");
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER) < 0)
        return refused("unshare(CLONE_NEWUSER): %s", en(errno));
    char map[64];
    int fd = open("/proc/self/setgroups", O_WRONLY);
    if (fd >= 0) {
        (void)!write(fd, "deny", 4);
        close(fd);
    }
    snprintf(map, sizeof map, "0 %u 1", uid);
    fd = open("/proc/self/uid_map", O_WRONLY);
    if (fd >= 0) {
        (void)!write(fd, map, strlen(map));
        close(fd);
    }
    snprintf(map, sizeof map, "0 %u 1", gid);
    fd = open("/proc/self/gid_map", O_WRONLY);
    if (fd >= 0) {
        (void)!write(fd, map, strlen(map));
        close(fd);
    }
    char log[2048] = "";
    int bad = 0;
#define TRY(what, expr)                                                                      \
    do {                                                                                     \
        errno = 0;                                                                           \
        long _r = (expr);                                                                    \
        int _e = errno;                                                                      \
        size_t _o = strlen(log);                                                             \
        snprintf(log + _o, sizeof log - _o, " %s:%s", what, _r >= 0 ? "DONE" : en(_e));      \
        bad |= _r >= 0;                                                                      \
    } while (0)
    char host[256];
    gethostname(host, sizeof host);
    TRY("sethostname(same)", sethostname(host, strlen(host)));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    TRY("clock_settime(now)", syscall(SYS_clock_settime, CLOCK_REALTIME, &ts));
    TRY("init_module(garbage)",
        syscall(SYS_init_module, JUNK, sizeof JUNK, "") == 0 || (errno != EPERM && errno != ENOSYS)
            ? 0
            : -1);
    TRY("core_pattern(same)", write_same_errno("/proc/sys/kernel/core_pattern"));
    TRY("reboot(CAD)", syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
                               xatol(argv[2]) ? LINUX_REBOOT_CMD_CAD_ON : LINUX_REBOOT_CMD_CAD_OFF,
                               NULL));
    {
        long r = -1;
        int fdm = -1, e = 0;
        if (unshare(CLONE_NEWNS) == 0) {
            mkdir("/tmp/hutch-uproc", 0700);
            if (mount("proc", "/tmp/hutch-uproc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      NULL) == 0) {
                fdm = open("/tmp/hutch-uproc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
                e = errno;
                r = fdm;
                umount2("/tmp/hutch-uproc", MNT_DETACH);
            } else {
                e = errno;
            }
            rmdir("/tmp/hutch-uproc");
        } else {
            e = errno;
        }
        errno = e;
        if (fdm >= 0)
            close(fdm);
        TRY("proc mount+sysrq-trigger open", (errno = e, r));
        (void)e;
    }
    if (bad)
        return escaped("in a user namespace of its own:%s", log);
    return refused("in a user namespace of its own:%s", log);
}

/* -- exec: the operator's terminal and the entering process (issue 12 items 1, 8) -- */
#include <sys/prctl.h>
#include <termios.h>

/* The terminal device behind a tty fd (TIOCGDEV: /dev/tty and /dev/console name another). */
static int tty_dev(int fd, unsigned int *dev)
{
    return ioctl(fd, TIOCGDEV, dev);
}

/* An own terminal of the container: a pty of its devpts (/dev/pts), or its console (a pty
 * hutch gave it at start). */
static int own_tty(int fd)
{
    struct stat st, other;
    if (fstat(fd, &st) < 0)
        return 0;
    if (stat("/dev/pts", &other) == 0 && st.st_dev == other.st_dev)
        return 1;
    if (stat("/dev/console", &other) == 0 && st.st_dev == other.st_dev && st.st_rdev == other.st_rdev)
        return 1;
    return 0;
}

/* A terminal that is not one of the container's own: the one `hutch exec` was typed on.
 * Pushing input into the container's own pty is no escape. /dev/tty (char 5:0) is the
 * controlling terminal: own if it is the pty one of our stdio fds is. */
static int foreign_tty(int fd)
{
    struct stat st;
    if (!isatty(fd) || fstat(fd, &st) < 0)
        return 0;
    if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 5 && minor(st.st_rdev) == 0) {
        unsigned int dev, mine;
        if (tty_dev(fd, &dev) < 0)
            return 1;
        for (int i = 0; i < 3; i++)
            if (isatty(i) && own_tty(i) && tty_dev(i, &mine) == 0 && mine == dev)
                return 0;
        return 1;
    }
    return !own_tty(fd);
}

#define MAX_TTY_TARGETS 64

struct tty_target {
    char name[96];
    int fd;
};

/* Every way to a terminal the probe can think of: /dev/tty, its stdio, every fd of its own
 * reopened through /proc/self/fd, and stdio of every other process it can see. */
static int tty_targets(struct tty_target *t, char *log, size_t len)
{
    int n = 0;
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        snprintf(log + strlen(log), len - strlen(log), " /dev/tty:%s", en(errno));
    else
        snprintf(t[n].name, sizeof t[n].name, "/dev/tty"), t[n++].fd = fd;
    for (int i = 0; i < 3; i++)
        snprintf(t[n].name, sizeof t[n].name, "fd%d", i), t[n++].fd = i;
    DIR *proc = opendir("/proc");
    struct dirent *de;
    while (proc && (de = readdir(proc)) && n < MAX_TTY_TARGETS - 1) {
        if (atoi(de->d_name) <= 0 && strcmp(de->d_name, "self") != 0)
            continue;
        int self = strcmp(de->d_name, "self") == 0 || atoi(de->d_name) == getpid();
        for (int i = 0; i < (self ? 16 : 3) && n < MAX_TTY_TARGETS - 1; i++) {
            char path[96];
            snprintf(path, sizeof path, "/proc/%.20s/fd/%d", de->d_name, i);
            fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
            if (fd < 0)
                continue;
            if (!isatty(fd)) {
                close(fd);
                continue;
            }
            snprintf(t[n].name, sizeof t[n].name, "%.90s", path);
            t[n++].fd = fd;
        }
    }
    if (proc)
        closedir(proc);
    return n;
}

/* Push PAYLOAD and a newline into every terminal found, with TIOCSTI (as if typed). */
static int a_sti(int argc, char **argv)
{
    if (argc < 3)
        return broken("usage: sti PAYLOAD");
    struct tty_target t[MAX_TTY_TARGETS];
    char log[4096] = "";
    int n = tty_targets(t, log, sizeof log), bad = 0;
    char line[512];
    snprintf(line, sizeof line, "%s\n", argv[2]);
    for (int i = 0; i < n; i++) {
        int foreign = foreign_tty(t[i].fd), err = 0;
        for (const char *c = line; *c && !err; c++)
            if (ioctl(t[i].fd, TIOCSTI, c) < 0)
                err = errno;
        size_t o = strlen(log);
        if (err)
            snprintf(log + o, sizeof log - o, " %.90s:%s", t[i].name, en(err));
        else if (foreign)
            bad = 1, snprintf(log + o, sizeof log - o, " %.90s:PUSHED INTO A HOST TERMINAL", t[i].name);
        else
            snprintf(log + o, sizeof log - o, " %.90s:pushed into its own pty", t[i].name);
    }
    return bad ? escaped("TIOCSTI:%s", log) : refused("TIOCSTI:%s", log);
}

/* Take a host terminal: make it the controlling one (TIOCSCTTY), take its foreground
 * (tcsetpgrp); then leave a child behind that reads what is typed next (stdin, /dev/tty)
 * for SECONDS and writes it to FILE, ending with a line "done". */
static int a_tty_steal(int argc, char **argv)
{
    if (argc < 4)
        return broken("usage: tty_steal FILE SECONDS");
    struct tty_target t[MAX_TTY_TARGETS];
    char log[4096] = "";
    int n = tty_targets(t, log, sizeof log), bad = 0;
    /* as an attacker would: job-control stops ignored, so tcsetpgrp from the background
     * goes through; and a group of its own in the terminal's session, to put in front */
    signal(SIGTTOU, SIG_IGN);
    signal(SIGTTIN, SIG_IGN);
    setpgid(0, 0);
    for (int i = 0; i < n; i++) {
        if (!foreign_tty(t[i].fd))
            continue;
        int sctty = ioctl(t[i].fd, TIOCSCTTY, 1) < 0 ? errno : 0;
        int pgrp = tcsetpgrp(t[i].fd, getpgrp()) < 0 ? errno : 0;
        size_t o = strlen(log);
        snprintf(log + o, sizeof log - o, " %.90s(host tty):TIOCSCTTY %s, tcsetpgrp %s", t[i].name,
                 sctty ? en(sctty) : "WORKED", pgrp ? en(pgrp) : "WORKED");
        bad |= !sctty || !pgrp;
    }
    for (int i = 0; i < n; i++)
        if (t[i].fd > 2)
            close(t[i].fd);
    int secs = atoi(argv[3]);
    signal(SIGHUP, SIG_IGN); /* the reader outlives the probe, the session's leader */
    pid_t pid = fork();
    if (pid < 0)
        return broken("fork: %s", en(errno));
    if (pid == 0) {
        FILE *out = fopen(argv[2], "w");
        if (!out)
            _exit(2);
        setvbuf(out, NULL, _IONBF, 0);
        alarm(secs);
        sleep(1); /* the probe has exited, `hutch exec` returned */
        int fds[2] = {0, open("/dev/tty", O_RDONLY | O_NOCTTY)};
        fprintf(out, "/dev/tty: %s\n", fds[1] < 0 ? en(errno) : "opened");
        for (int i = 0; i < 2; i++) /* the shell has the terminal back: take it again */
            if (fds[i] >= 0 && foreign_tty(fds[i]))
                fprintf(out, "tcsetpgrp %s: %s\n", i ? "/dev/tty" : "stdin",
                        tcsetpgrp(fds[i], getpgrp()) < 0 ? en(errno) : "WORKED");
        for (int i = 0; i < 2; i++) {
            char buf[256];
            ssize_t r;
            while (fds[i] >= 0 && (r = read(fds[i], buf, sizeof buf - 1)) > 0) {
                buf[r] = 0;
                fprintf(out, "%s read: %s\n", i ? "/dev/tty" : "stdin", buf);
            }
            if (fds[i] >= 0)
                fprintf(out, "%s: %s\n", i ? "/dev/tty" : "stdin", r < 0 ? en(errno) : "EOF");
        }
        fprintf(out, "done\n");
        _exit(0);
    }
    if (bad)
        return escaped("a host terminal:%s", log);
    return refused("no host terminal to take:%s; reader %d left behind", log, (int)pid);
}

/* For SECONDS, read the cmdline of every process in sight: none may show one of WORDS (the
 * operator's command line). A process that still runs the host's Python (binary DEV:INO,
 * comm "python*", between `hutch exec`'s fork and execve) must not be open to us: not its
 * memory, environ, fds, exe, cwd or root (it is not dumpable). */
static int a_cmdline_watch(int argc, char **argv)
{
    if (argc < 6)
        return broken("usage: cmdline_watch SECONDS DEV INO WORD...");
    double secs = atof(argv[2]);
    unsigned long long dev = strtoull(argv[3], NULL, 0), ino = strtoull(argv[4], NULL, 0);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    static char seen[1 << 16];
    int seen_n = 0, passes = 0, python = 0, execing = 0;
    pid_t me = getpid();
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 > secs)
            break;
        passes++;
        DIR *d = opendir("/proc");
        if (!d)
            return broken("opendir /proc: %s", en(errno));
        struct dirent *de;
        while ((de = readdir(d))) {
            int pid = atoi(de->d_name);
            if (pid <= 0 || pid == me)
                continue;
            if (pid < (1 << 16) && !seen[pid])
                seen[pid] = 1, seen_n++;
            char path[64], buf[4096];
            snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                continue;
            ssize_t r = read(fd, buf, sizeof buf - 1);
            close(fd);
            for (ssize_t i = 0; i < r; i++)
                if (!buf[i])
                    buf[i] = ' ';
            buf[r > 0 ? r : 0] = 0;
            for (int w = 5; w < argc; w++)
                if (strstr(buf, argv[w])) {
                    closedir(d);
                    return escaped("pid %d shows %s in its cmdline: %.200s", pid, argv[w], buf);
                }
            char comm[64] = "";
            snprintf(path, sizeof path, "/proc/%d/comm", pid);
            read_file(path, comm, sizeof comm);
            if (strncmp(comm, "python", 6) != 0)
                continue;
            python++;
            /* what reaches into the process (ptrace access); its fd directory may be
             * listed by owner rights (an identity-mapped root), its links not followed */
            static const char *parts[] = {"mem",   "environ", "exe",  "cwd/.", "root/.",
                                          "fd/0",  "fd/1",    "fd/2", "fd/3",  "fd/4",
                                          "fd/5",  "fd/6",    "fd/7", "fd/8",  NULL};
            for (int i = 0; parts[i]; i++) {
                snprintf(path, sizeof path, "/proc/%d/%s", pid, parts[i]);
                int pfd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
                if (pfd < 0)
                    continue;
                close(pfd);
                /* execve makes the process dumpable (after closing its O_CLOEXEC fds) before
                 * it renames it: opened in that window, it runs the container's binary
                 * already. Still the host's Python (or no telling) is an escape. */
                struct stat st;
                snprintf(path, sizeof path, "/proc/%d/exe", pid);
                int e = stat(path, &st) < 0 ? errno : 0;
                if (e == ENOENT || e == ESRCH)
                    continue; /* gone */
                if (e || ((unsigned long long)st.st_dev == dev &&
                          (unsigned long long)st.st_ino == ino)) {
                    closedir(d);
                    return escaped("pid %d (the host's Python, entering) opened: /proc/%d/%s%s%s",
                                   pid, pid, parts[i], e ? "; its exe: " : "", e ? en(e) : "");
                }
                execing++;
            }
        }
        closedir(d);
    }
    return refused("%d passes over /proc, %d pids seen, %d entering processes met (%d caught "
                   "in execve), none showed the words or opened up",
                   passes, seen_n, python, execing);
}
/* -- end of exec's block -- */

/* -- seccomp: the calls of the default policy table (issue 12 item 6) -- */

#define SC_FSCONFIG_SET_STRING 1
#define SC_FSCONFIG_CMD_CREATE 6
#define SC_OPEN_TREE_CLONE 1
#define SC_MOVE_MOUNT_F_EMPTY_PATH 0x4
#define SC_MOUNT_ATTR_RDONLY 0x1
#define SC_AF_VSOCK 40
#define SC_I386_SOCKETCALL 102
#define SC_SYS_SOCKET 1
#define SC_READ_IMPLIES_EXEC 0x0400000
#define SC_ADDR_NO_RANDOMIZE 0x0040000
#define SC_TIOCL_GETSHIFTSTATE 6

/* A call made with harmless arguments: only the filter's answer (or the permission check's)
 * refuses; the kernel rejecting the arguments (EBADF, EINVAL) means the call got in. */
static int a_io_uring_setup(int argc, char **argv)
{
    (void)argc, (void)argv;
    char params[120] = {0}; /* struct io_uring_params, zeroed */
    long r = syscall(SYS_io_uring_setup, 1, params);
    int e = errno;
    if (r >= 0)
        close((int)r);
    return expect_refusal("io_uring_setup(1 entry)", r, e, PERM_NOSYS);
}

static int a_fsopen(int argc, char **argv)
{
    (void)argc, (void)argv;
    long fd = syscall(SYS_fsopen, "tmpfs", 0);
    int e = errno;
    if (fd >= 0) {
        /* the path of CVE-2022-0185: strings parsed into the new superblock's context */
        long r = syscall(SYS_fsconfig, fd, SC_FSCONFIG_SET_STRING, "size", "1M", 0);
        close((int)fd);
        return escaped("fsopen(tmpfs) gave fd %ld; fsconfig(size=1M) returned %ld", fd, r);
    }
    if (!is_refusal(e, PERM_NOSYS))
        return escaped("fsopen(tmpfs) got past its permission check (%s)", en(e));
    /* fsconfig on its own: on a bad fd the kernel says EBADF, the filter ENOSYS */
    long r = syscall(SYS_fsconfig, -1, SC_FSCONFIG_CMD_CREATE, NULL, NULL, 0);
    int e2 = errno;
    char first[64];
    snprintf(first, sizeof first, "%s", en(e)); /* en() reuses its buffer */
    if (r >= 0 || !is_refusal(e2, PERM_NOSYS))
        return escaped("fsopen refused (%s) but fsconfig reaches the kernel (%s)", first,
                       r >= 0 ? "success" : en(e2));
    return refused("fsopen(tmpfs): %s, fsconfig: %s", first, en(e2));
}

static int a_fsmount(int argc, char **argv)
{
    (void)argc, (void)argv;
    long r = syscall(SYS_fsmount, -1, 0, 0);
    return expect_refusal("fsmount(fd -1)", r, errno, PERM_NOSYS);
}

static int a_fspick(int argc, char **argv)
{
    (void)argc, (void)argv;
    long r = syscall(SYS_fspick, AT_FDCWD, "/proc", 0);
    int e = errno;
    if (r >= 0)
        close((int)r);
    return expect_refusal("fspick(/proc)", r, e, PERM_NOSYS);
}

static int a_open_tree(int argc, char **argv)
{
    (void)argc, (void)argv;
    /* a non-recursive copy of /proc would be /proc without the masks on top */
    long r = syscall(SYS_open_tree, AT_FDCWD, "/proc", SC_OPEN_TREE_CLONE | O_CLOEXEC);
    int e = errno;
    if (r >= 0)
        close((int)r);
    return expect_refusal("open_tree(/proc, OPEN_TREE_CLONE)", r, e, PERM_NOSYS);
}

static int a_move_mount(int argc, char **argv)
{
    (void)argc, (void)argv;
    long r = syscall(SYS_move_mount, -1, "", AT_FDCWD, "/tmp", SC_MOVE_MOUNT_F_EMPTY_PATH);
    return expect_refusal("move_mount(fd -1, /tmp)", r, errno, PERM_NOSYS);
}

static int a_mount_setattr(int argc, char **argv)
{
    (void)argc, (void)argv;
    unsigned long long attr[4] = {SC_MOUNT_ATTR_RDONLY, 0, 0, 0}; /* struct mount_attr */
    long r = syscall(SYS_mount_setattr, -1, "", 0x1000 /* AT_EMPTY_PATH */, attr, sizeof attr);
    return expect_refusal("mount_setattr(fd -1)", r, errno, PERM_NOSYS);
}

static int a_nested_unshare(int argc, char **argv)
{
    (void)argc, (void)argv;
    fflush(stdout);
    pid_t pid = fork(); /* the child takes the namespace, if it gets one */
    if (pid < 0)
        return broken("fork: %s", en(errno));
    if (pid == 0)
        _exit(unshare(CLONE_NEWUSER) == 0 ? 0 : errno);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status))
        return broken("the child died of signal %d", WTERMSIG(status));
    int e = WEXITSTATUS(status);
    return expect_refusal("unshare(CLONE_NEWUSER)", e ? -1 : 0, e, PERM);
}

static int a_nested_clone(int argc, char **argv)
{
    (void)argc, (void)argv;
    fflush(stdout);
    /* raw clone (x86_64: flags, stack, parent_tid, child_tid, tls), fork-like: stack 0 */
    long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0UL, NULL, NULL, 0UL);
    if (r == 0)
        _exit(0);
    int e = errno;
    if (r > 0)
        waitpid((pid_t)r, NULL, 0);
    return expect_refusal("clone(CLONE_NEWUSER)", r, e, PERM);
}

static int a_nested_clone3(int argc, char **argv)
{
    (void)argc, (void)argv;
    fflush(stdout);
    /* struct clone_args: flags, pidfd, child_tid, parent_tid, exit_signal, stack, ... */
    unsigned long long args[11] = {0};
    args[0] = CLONE_NEWUSER;
    args[4] = SIGCHLD;
    long r = syscall(SYS_clone3, args, 88 /* CLONE_ARGS_SIZE_VER0 */);
    if (r == 0)
        _exit(0);
    int e = errno;
    if (r > 0)
        waitpid((pid_t)r, NULL, 0);
    return expect_refusal("clone3(CLONE_NEWUSER)", r, e, PERM_NOSYS);
}

static int a_vsock(int argc, char **argv)
{
    (void)argc, (void)argv;
    /* only the filter's EPERM refuses: EAFNOSUPPORT would mean the call reached the kernel
     * (on a host without vsock nothing answers, but the filter let it through) */
    int fd = socket(SC_AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int e = errno;
    if (fd >= 0)
        close(fd);
    return expect_refusal("socket(AF_VSOCK)", fd, e, PERM);
}

static int vsock_i386(int argc, char **argv)
{
    (void)argc, (void)argv;
    /* socketcall(SYS_SOCKET, {AF_VSOCK, SOCK_STREAM, 0}): 32-bit words below 4 GiB */
    unsigned int *a = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (a == MAP_FAILED)
        return broken("mmap MAP_32BIT: %s", en(errno));
    a[0] = SC_AF_VSOCK, a[1] = SOCK_STREAM, a[2] = 0;
    long r = int80(SC_I386_SOCKETCALL, SC_SYS_SOCKET, (long)a, 0, 0);
    if (r >= 0)
        close((int)r);
    return expect_refusal("i386 socketcall(SYS_SOCKET, AF_VSOCK) via int $0x80", r < 0 ? -1 : r,
                          r < 0 ? (int)-r : 0, PERM);
}

static int a_vsock_i386(int argc, char **argv)
{
    return in_child(vsock_i386, argc, argv);
}

static int a_personality(int argc, char **argv)
{
    (void)argc, (void)argv;
    int old = personality(0xffffffff);
    if (old < 0)
        return broken("personality query: %s", en(errno));
    static const struct {
        const char *name;
        unsigned long flag;
    } flags[] = {{"READ_IMPLIES_EXEC", SC_READ_IMPLIES_EXEC},
                 {"ADDR_NO_RANDOMIZE", SC_ADDR_NO_RANDOMIZE}};
    char log[256] = "";
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) {
        int r = personality((unsigned long)old | flags[i].flag);
        int e = errno;
        if (r >= 0) {
            personality((unsigned long)old);
            return escaped("personality(%s) was set", flags[i].name);
        }
        if (!is_refusal(e, PERM))
            return escaped("personality(%s) got past the filter (%s)", flags[i].name, en(e));
        size_t o = strlen(log);
        snprintf(log + o, sizeof log - o, " %s:%s", flags[i].name, en(e));
    }
    /* the harmless ones stay: 32-bit and back */
    if (personality(0x8) < 0 || personality((unsigned long)old) < 0)
        return broken("personality(PER_LINUX32) refused: %s", en(errno));
    return refused("personality:%s (PER_LINUX32 and the query allowed)", log);
}

/* a pty of its own as the controlling terminal: the case the kernel itself would allow */
static int own_pty(int *master)
{
    if (setsid() < 0)
        return -1;
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
        return -1;
    char *name = ptsname(m);
    int s = name ? open(name, O_RDWR | O_CLOEXEC) : -1; /* session leader: becomes its ctty */
    if (s < 0)
        return -1;
    ioctl(s, TIOCSCTTY, 0);
    *master = m;
    return s;
}

static int tty_ioctl(const char *what, unsigned long req, void *arg)
{
    fflush(stdout);
    pid_t pid = fork(); /* setsid in a child: the probe keeps its session */
    if (pid < 0)
        return broken("fork: %s", en(errno));
    if (pid == 0) {
        int master = -1;
        int s = own_pty(&master);
        if (s < 0)
            _exit(200);
        long r = ioctl(s, req, arg);
        int e = errno;
        char log[256], first[64];
        snprintf(first, sizeof first, "%s", r >= 0 ? "DONE" : en(e)); /* en() reuses a buffer */
        /* and on the container's console, if it can be opened */
        int c = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
        long rc = c >= 0 ? ioctl(c, req, arg) : -1;
        int ec = errno;
        snprintf(log, sizeof log, "%s on its own pty (ctty): %s; on /dev/console: %s", what,
                 first, c < 0 ? "not opened" : rc >= 0 ? "DONE" : en(ec));
        if (r >= 0 || !is_refusal(e, PERM) || (c >= 0 && (rc >= 0 || !is_refusal(ec, PERM))))
            _exit(escaped("%s", log));
        _exit(refused("%s", log));
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status))
        return broken("the child died of signal %d", WTERMSIG(status));
    if (WEXITSTATUS(status) == 200)
        return broken("no pty of its own (setsid or /dev/ptmx failed)");
    return WEXITSTATUS(status);
}

static int a_tiocsti(int argc, char **argv)
{
    (void)argc, (void)argv;
    static char c = '\n'; /* an empty line typed into its own terminal, at worst */
    return tty_ioctl("TIOCSTI", TIOCSTI, &c);
}

static int a_tioclinux(int argc, char **argv)
{
    (void)argc, (void)argv;
    static char sub = SC_TIOCL_GETSHIFTSTATE; /* reads, changes nothing */
    return tty_ioctl("TIOCLINUX", TIOCLINUX, &sub);
}

/* -- seccomp: end -- */
/* -- privileged: the host's links by netnsid, device nodes, SCHED_FIFO, host-wide knobs -- */
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/net_namespace.h>
#include <sys/resource.h>

#define INIT_USERNS_INO 4026531837UL /* PROC_USER_INIT_INO: the host's user namespace */
#define MAX_IDS 32

struct nlbuf {
    union {
        struct nlmsghdr h;
        char raw[640];
    };
};

static void *nl_body(struct nlbuf *m, size_t len)
{
    memset(m, 0, sizeof *m);
    m->h.nlmsg_len = NLMSG_LENGTH(len);
    return m->raw + NLMSG_HDRLEN;
}

static void nl_put(struct nlbuf *m, int type, const void *data, int len)
{
    struct rtattr *a = (struct rtattr *)(m->raw + NLMSG_ALIGN(m->h.nlmsg_len));
    a->rta_type = type;
    a->rta_len = RTA_LENGTH(len);
    memcpy(RTA_DATA(a), data, len);
    m->h.nlmsg_len = NLMSG_ALIGN(m->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* one request; each reply message goes to `each`; 0, or the kernel's -errno */
static int nl_talk(int fd, struct nlbuf *m, int type, int flags,
                   void (*each)(struct nlmsghdr *, size_t, void *), size_t hdr, void *arg)
{
    static unsigned seq;
    m->h.nlmsg_type = type;
    m->h.nlmsg_flags = NLM_F_REQUEST | flags | ((flags & NLM_F_DUMP) ? 0 : NLM_F_ACK);
    m->h.nlmsg_seq = ++seq;
    if (send(fd, m, m->h.nlmsg_len, 0) < 0)
        return -errno;
    static char buf[1 << 16];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0)
            return -errno;
        for (struct nlmsghdr *r = (struct nlmsghdr *)buf; NLMSG_OK(r, (size_t)n);
             r = NLMSG_NEXT(r, n)) {
            if (r->nlmsg_seq != seq)
                continue;
            if (r->nlmsg_type == NLMSG_DONE) {
                int e = r->nlmsg_len >= NLMSG_LENGTH(sizeof(int)) ? *(int *)NLMSG_DATA(r) : 0;
                return e < 0 ? e : 0;
            }
            if (r->nlmsg_type == NLMSG_ERROR)
                return ((struct nlmsgerr *)NLMSG_DATA(r))->error;
            if (each)
                each(r, hdr, arg);
        }
    }
}

struct linkset {
    int n, nids;
    char names[64][IFNAMSIZ];
    int ids[MAX_IDS];
};

static void add_id(struct linkset *s, int id)
{
    for (int i = 0; i < s->nids; i++)
        if (s->ids[i] == id)
            return;
    if (id >= 0 && s->nids < MAX_IDS)
        s->ids[s->nids++] = id;
}

/* RTM_NEWLINK (names, and the ids of the namespaces their peers live in) and RTM_NEWNSID */
static void on_reply(struct nlmsghdr *r, size_t hdr, void *arg)
{
    struct linkset *s = arg;
    if (r->nlmsg_type != RTM_NEWLINK && r->nlmsg_type != RTM_NEWNSID)
        return;
    int len = (int)r->nlmsg_len - (int)NLMSG_LENGTH(hdr);
    struct rtattr *a = (struct rtattr *)((char *)NLMSG_DATA(r) + NLMSG_ALIGN(hdr));
    for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (r->nlmsg_type == RTM_NEWLINK && a->rta_type == IFLA_IFNAME && s->n < 64)
            snprintf(s->names[s->n++], IFNAMSIZ, "%s", (char *)RTA_DATA(a));
        else if (r->nlmsg_type == RTM_NEWLINK && a->rta_type == IFLA_LINK_NETNSID)
            add_id(s, *(int *)RTA_DATA(a));
        else if (r->nlmsg_type == RTM_NEWNSID && a->rta_type == NETNSA_NSID)
            add_id(s, *(int *)RTA_DATA(a));
    }
}

static int has_name(const struct linkset *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return 1;
    return 0;
}

/* a link request aimed at the namespace `id` names, by interface name */
static int link_req(int fd, int type, int id, const char *ifname, int mtu, struct linkset *out)
{
    struct nlbuf m;
    struct ifinfomsg *ifi = nl_body(&m, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    nl_put(&m, IFLA_TARGET_NETNSID, &id, sizeof id);
    if (ifname)
        nl_put(&m, IFLA_IFNAME, ifname, strlen(ifname) + 1);
    if (mtu > 0)
        nl_put(&m, IFLA_MTU, &mtu, sizeof mtu);
    return nl_talk(fd, &m, type, ifname ? 0 : NLM_F_DUMP, on_reply, sizeof *ifi, out);
}

/* The host's network namespace has an id in the container's as soon as a link whose peer
 * is there (a veth) is dumped; IFLA_TARGET_NETNSID then aims a request at it, checked for
 * CAP_NET_ADMIN in the user namespace owning it: the host's. Every request must fail, with
 * EACCES/EPERM (no such power), EINVAL/ENOENT (no such id), or list only the container's
 * own links. A "no such device" means the permission check passed. The only write is the
 * host dummy's own MTU. */
static int a_target_netnsid(int argc, char **argv)
{
    if (argc < 4)
        return broken("usage: target_netnsid HOST_IFNAME MTU");
    const char *host = argv[2];
    int mtu = (int)xatol(argv[3]);
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return broken("netlink socket: %s", en(errno));
    struct linkset own = {0};
    struct nlbuf m;
    struct ifinfomsg *ifi = nl_body(&m, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    int r = nl_talk(fd, &m, RTM_GETLINK, NLM_F_DUMP, on_reply, sizeof *ifi, &own);
    if (r < 0)
        return broken("dump of its own links: %s", en(-r));
    struct rtgenmsg *g = nl_body(&m, sizeof *g);
    g->rtgen_family = AF_UNSPEC;
    r = nl_talk(fd, &m, RTM_GETNSID, NLM_F_DUMP, on_reply, sizeof *g, &own);
    char log[2048];
    snprintf(log, sizeof log, "ids held [");
    for (int i = 0; i < own.nids; i++)
        snprintf(log + strlen(log), sizeof log - strlen(log), "%s%d", i ? " " : "", own.ids[i]);
    snprintf(log + strlen(log), sizeof log - strlen(log), "] (GETNSID dump: %s);",
             r ? en(-r) : "ok");
    struct linkset tried = own;
    for (int id = 0; id < 8; id++)
        add_id(&tried, id);
    static const int ok[] = {EPERM, EACCES, EINVAL, ENOENT, 0};
    for (int i = 0; i < tried.nids; i++) {
        int id = tried.ids[i];
        struct linkset there = {0};
        int d = link_req(fd, RTM_GETLINK, id, NULL, 0, &there);
        for (int k = 0; k < there.n; k++)
            if (!has_name(&own, there.names[k]) || strcmp(there.names[k], host) == 0)
                return escaped("netnsid %d lists the host's link %s", id, there.names[k]);
        int gl = link_req(fd, RTM_GETLINK, id, host, 0, &there);
        int sl = link_req(fd, RTM_SETLINK, id, host, mtu, NULL);
        int nl = link_req(fd, RTM_NEWLINK, id, "hutchnx0", 0, NULL);
        int dl = link_req(fd, RTM_DELLINK, id, "hutchnx0", 0, NULL);
        const char *what[] = {"GETLINK", "SETLINK mtu", "NEWLINK", "DELLINK"};
        int res[] = {gl, sl, nl, dl};
        for (int k = 0; k < 4; k++)
            if (res[k] == 0 || !is_refusal(-res[k], ok))
                return escaped("netnsid %d: RTM_%s of %s %s", id, what[k],
                               k < 2 ? host : "hutchnx0",
                               res[k] == 0 ? "succeeded" : en(-res[k]));
        snprintf(log + strlen(log), sizeof log - strlen(log), " %d:%s/%s/%s/%s/%s", id,
                 d ? en(-d) : "own-only", en(-gl), en(-sl), en(-nl), en(-dl));
    }
    close(fd);
    return refused("%s", log);
}

/* the host's console, a tty and the host's disk: no device node may be made */
static int a_mknod_console(int argc, char **argv)
{
    if (argc < 4)
        return broken("usage: mknod_console DISK_MAJOR DISK_MINOR");
    struct {
        const char *what;
        mode_t mode;
        dev_t dev;
    } nodes[] = {
        {"c 5 1 (console)", S_IFCHR, makedev(5, 1)},
        {"c 4 1 (tty1)", S_IFCHR, makedev(4, 1)},
        {"b (the host's disk)", S_IFBLK, makedev(xatol(argv[2]), xatol(argv[3]))},
    };
    char log[512] = "";
    for (size_t i = 0; i < sizeof nodes / sizeof *nodes; i++) {
        const char *path = "/tmp/hutch-node";
        unlink(path);
        int r = mknod(path, nodes[i].mode | 0600, nodes[i].dev);
        int e = errno;
        if (r == 0) {
            unlink(path);
            return escaped("mknod %s", nodes[i].what);
        }
        if (!is_refusal(e, PERM))
            return escaped("mknod %s got past its permission check (%s)", nodes[i].what, en(e));
        snprintf(log + strlen(log), sizeof log - strlen(log), " %s:%s", nodes[i].what, en(e));
    }
    return refused("mknod:%s", log);
}

/* SCHED_FIFO/RR run ahead of every CFS task of the host, whatever the cgroup's CPU limit */
static int a_sched_fifo(int argc, char **argv)
{
    (void)argc, (void)argv;
    struct rlimit rl;
    getrlimit(RLIMIT_RTPRIO, &rl);
    struct rlimit up = {99, 99};
    int lr = setrlimit(RLIMIT_RTPRIO, &up);
    int le = errno;
    char log[256];
    snprintf(log, sizeof log, "RLIMIT_RTPRIO %lu/%lu, raise: %s", (unsigned long)rl.rlim_cur,
             (unsigned long)rl.rlim_max, lr ? en(le) : "RAISED");
    int policies[] = {SCHED_FIFO, SCHED_RR};
    for (int i = 0; i < 2; i++) {
        struct sched_param p = {.sched_priority = 1};
        int r = sched_setscheduler(0, policies[i], &p);
        int e = errno;
        if (r == 0) {
            struct sched_param z = {.sched_priority = 0};
            sched_setscheduler(0, SCHED_OTHER, &z);
            return escaped("sched_setscheduler %s prio 1 (%s)", i ? "SCHED_RR" : "SCHED_FIFO",
                           log);
        }
        snprintf(log + strlen(log), sizeof log - strlen(log), "; %s: %s",
                 i ? "SCHED_RR" : "SCHED_FIFO", en(e));
    }
    return refused("%s", log);
}

/* RAPL energy counters (CVE-2020-8694): a side channel on the host's computations */
static int a_powercap(int argc, char **argv)
{
    (void)argc, (void)argv;
    static const char *dirs[] = {"/sys/class/powercap", "/sys/devices/virtual/powercap", NULL};
    char log[512] = "";
    for (const char **d = dirs; *d; d++) {
        DIR *dir = opendir(*d);
        if (!dir) {
            snprintf(log + strlen(log), sizeof log - strlen(log), " %s:%s", *d, en(errno));
            continue;
        }
        int entries = 0;
        struct dirent *de;
        while ((de = readdir(dir))) {
            if (de->d_name[0] == '.')
                continue;
            entries++;
            char path[512], buf[64];
            snprintf(path, sizeof path, "%s/%s/energy_uj", *d, de->d_name);
            if (read_file(path, buf, sizeof buf) > 0) {
                closedir(dir);
                return escaped("read %s: %s", path, buf);
            }
        }
        closedir(dir);
        snprintf(log + strlen(log), sizeof log - strlen(log), " %s:%d entries", *d, entries);
        if (entries)
            return escaped("%s lists %d zones of the host (masks missing)", *d, entries);
    }
    return refused("powercap:%s", log);
}

/* a directory of the host's kernel that must be empty (masked) or absent */
static int empty_or_absent(const char *path)
{
    DIR *dir = opendir(path);
    if (!dir)
        return refused("%s: %s", path, en(errno));
    int entries = 0;
    struct dirent *de;
    char first[256] = "";
    while ((de = readdir(dir)))
        if (de->d_name[0] != '.' && entries++ == 0)
            snprintf(first, sizeof first, "%s", de->d_name);
    closedir(dir);
    if (entries)
        return escaped("%s shows the host's %d entries (%s, ...)", path, entries, first);
    return refused("%s is empty (masked)", path);
}

static int a_asound(int argc, char **argv)
{
    (void)argc, (void)argv;
    return empty_or_absent("/proc/asound");
}

/* the usermode helper paths the host's kernel runs as the host's root */
static int a_modprobe(int argc, char **argv)
{
    (void)argc, (void)argv;
    char before[256] = "", after[256] = "";
    read_file("/proc/sys/kernel/modprobe", before, sizeof before);
    int w = write_same("/proc/sys/kernel/modprobe");
    if (w == 0)
        return escaped("wrote the host's kernel.modprobe (%s)", before);
    /* request_module("net-pf-19"): AF_ECONET, gone from the kernel; the host runs ITS
     * modprobe, if any */
    int s = socket(19, SOCK_DGRAM, 0);
    int e = errno;
    if (s >= 0)
        close(s);
    read_file("/proc/sys/kernel/modprobe", after, sizeof after);
    if (strcmp(before, after) != 0)
        return escaped("kernel.modprobe changed: %s -> %s", before, after);
    before[strcspn(before, "\n")] = 0;
    return refused("write kernel.modprobe: %s; socket(19) %s, modprobe stays '%s'", en(-w),
                   s >= 0 ? "ok" : en(e), before);
}

static int a_uevent_helper(int argc, char **argv)
{
    (void)argc, (void)argv;
    int w = write_same("/sys/kernel/uevent_helper");
    if (w == 0)
        return escaped("wrote the host's /sys/kernel/uevent_helper");
    return refused("write /sys/kernel/uevent_helper: %s", en(-w));
}

static int in_host_userns(void)
{
    struct stat st;
    return stat("/proc/self/ns/user", &st) == 0 && st.st_ino == INIT_USERNS_INO;
}

/* binfmt_misc: an interpreter the host's kernel would run for the host's own programs. Since
 * 6.7 each user namespace may mount an instance of its own, which only it sees: that one
 * is the container's. The register file is opened, never written. */
static int a_binfmt_misc(int argc, char **argv)
{
    (void)argc, (void)argv;
    int fd = open("/proc/sys/fs/binfmt_misc/register", O_WRONLY | O_CLOEXEC);
    int e = errno;
    if (fd >= 0) {
        close(fd);
        return escaped("/proc/sys/fs/binfmt_misc/register opens for writing");
    }
    private_mounts();
    const char *mnt = "/tmp/hutch-binfmt";
    mkdir(mnt, 0700);
    long r = mount("binfmt_misc", mnt, "binfmt_misc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    int me = errno;
    int host_ns = in_host_userns();
    if (r == 0)
        umount2(mnt, MNT_DETACH);
    rmdir(mnt);
    if (r == 0 && host_ns)
        return escaped("mounted binfmt_misc in the host's user namespace: the host's instance");
    return refused("open register: %s; mount binfmt_misc: %s", en(e),
                   r == 0 ? "ok, an instance of the container's own user namespace" : en(me));
}

static int a_power_state(int argc, char **argv)
{
    (void)argc, (void)argv;
    int fd = open("/sys/power/state", O_WRONLY | O_CLOEXEC); /* opened, never written */
    int e = errno;
    if (fd >= 0) {
        close(fd);
        return escaped("/sys/power/state opens for writing");
    }
    return refused("open /sys/power/state for writing: %s", en(e));
}

/* the host's unix sockets (hutchd's API among them) must not be listed */
static int a_proc_net_unix(int argc, char **argv)
{
    if (argc < 3)
        return broken("usage: proc_net_unix HOST_SOCKET");
    FILE *f = fopen("/proc/net/unix", "r");
    if (!f)
        return refused("/proc/net/unix: %s", en(errno));
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (n++ == 0)
            continue;
        if (strstr(line, argv[2]) || strstr(line, "/run/hutch/")) {
            fclose(f);
            line[strcspn(line, "\n")] = 0;
            return escaped("/proc/net/unix lists a host socket: %s", line);
        }
    }
    fclose(f);
    return refused("/proc/net/unix: %d sockets, none of the host's", n - 1);
}

static int a_run_hutch(int argc, char **argv)
{
    if (argc < 3)
        return broken("usage: run_hutch HOST_RUN_DIR");
    const char *paths[] = {argv[2], "/run/hutch", NULL};
    char log[1024] = "";
    for (const char **p = paths; *p; p++) {
        char sub[512];
        snprintf(sub, sizeof sub, "%s/containers", *p);
        struct stat st;
        if (stat(sub, &st) == 0)
            return escaped("%s is visible", sub);
        snprintf(log + strlen(log), sizeof log - strlen(log), " %s:%s", sub, en(errno));
    }
    return refused("the host's run directory is not there:%s", log);
}
/* -- privileged: end -- */

/* ---- dispatch ------------------------------------------------------------------------- */

struct attack {
    const char *name;
    int (*fn)(int, char **);
};

static const struct attack ATTACKS[] = {
    {"sysrq", a_sysrq},
    {"reboot", a_reboot},
    {"clock_settime", a_clock_settime},
    {"settimeofday", a_settimeofday},
    {"adjtimex", a_adjtimex},
    {"init_module", a_init_module},
    {"finit_module", a_finit_module},
    {"delete_module", a_delete_module},
    {"module_i386", a_module_i386},
    {"kexec_load", a_kexec_load},
    {"kexec_file_load", a_kexec_file_load},
    {"kexec_i386", a_kexec_i386},
    {"kexec_x32", a_kexec_x32},
    {"syslog", a_syslog},
    {"acct", a_acct},
    {"swapon", a_swapon},
    {"swapoff", a_swapoff},
    {"iopl", a_iopl},
    {"ioperm", a_ioperm},
    {"bpf", a_bpf},
    {"perf_event_open", a_perf},
    {"userfaultfd", a_userfaultfd},
    {"add_key", a_add_key},
    {"keyctl", a_keyctl},
    {"request_key", a_request_key},
    {"disk", a_disk},
    {"disk_mount", a_disk_mount},
    {"dev_mem", a_dev_mem},
    {"dev_port", a_dev_port},
    {"dev_kmsg", a_dev_kmsg},
    {"packet", a_packet},
    {"spoof_send", a_spoof_send}, /* bridge */
    {"host_proc", a_host_proc},
    {"setns_host", a_setns_host},
    {"ptrace", a_ptrace},
    {"pidfd_open", a_pidfd_open},
    {"process_vm_readv", a_process_vm_readv},
    {"kill", a_kill},
    {"release_agent", a_release_agent},
    {"cgroup_mount", a_cgroup_mount},
    {"raise_limits", a_raise_limits},
    {"remount_proc_sys", a_remount_proc_sys},
    {"remount_proc", a_remount_proc},
    {"umount_masks", a_umount_masks},
    {"umount_proc_sys", a_umount_proc_sys},
    {"remount_sys", a_remount_sys},
    {"proc_mount", a_proc_mount},
    {"sysfs_mount", a_sysfs_mount},
    {"debugfs", a_debugfs},
    {"tracefs", a_tracefs},
    {"securityfs", a_securityfs},
    {"chroot", a_chroot},
    {"open_by_handle", a_open_by_handle},
    {"fds", a_fds},
    {"exe_watch", a_exe_watch},
    {"memhog", a_memhog},
    {"forkbomb", a_forkbomb},
    {"userns", a_userns},
    /* -- exec -- */
    {"sti", a_sti},
    {"tty_steal", a_tty_steal},
    {"cmdline_watch", a_cmdline_watch},

    /* -- seccomp -- */
    {"io_uring_setup", a_io_uring_setup},
    {"fsopen", a_fsopen},
    {"fsmount", a_fsmount},
    {"fspick", a_fspick},
    {"open_tree", a_open_tree},
    {"move_mount", a_move_mount},
    {"mount_setattr", a_mount_setattr},
    {"nested_unshare", a_nested_unshare},
    {"nested_clone", a_nested_clone},
    {"nested_clone3", a_nested_clone3},
    {"vsock", a_vsock},
    {"vsock_i386", a_vsock_i386},
    {"personality", a_personality},
    {"tiocsti", a_tiocsti},
    {"tioclinux", a_tioclinux},
    /* -- privileged -- */
    {"target_netnsid", a_target_netnsid},
    {"mknod_console", a_mknod_console},
    {"sched_fifo", a_sched_fifo},
    {"powercap", a_powercap},
    {"asound", a_asound},
    {"modprobe", a_modprobe},
    {"uevent_helper", a_uevent_helper},
    {"binfmt_misc", a_binfmt_misc},
    {"power_state", a_power_state},
    {"proc_net_unix", a_proc_net_unix},
    {"run_hutch", a_run_hutch},
};

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2)
        return broken("usage: probe ATTACK [ARGS]");
    if (strcmp(argv[1], "list") == 0) {
        for (size_t i = 0; i < sizeof ATTACKS / sizeof *ATTACKS; i++)
            puts(ATTACKS[i].name);
        return 0;
    }
    for (size_t i = 0; i < sizeof ATTACKS / sizeof *ATTACKS; i++)
        if (strcmp(argv[1], ATTACKS[i].name) == 0)
            return ATTACKS[i].fn(argc, argv);
    return broken("no attack named %s", argv[1]);
}
