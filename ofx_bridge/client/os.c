/* Operating-system services for the client (see os.h). POSIX first; Windows behind _WIN32. */
#ifndef _WIN32
#define _GNU_SOURCE
#endif
#include "os.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <io.h>
#include <sys/stat.h>
#else
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
extern char **environ;
#endif

struct dc_socket {
#ifdef _WIN32
    SOCKET fd;
#else
    int fd;
#endif
};

double dc_now(void)
{
#ifdef _WIN32
    return (double)GetTickCount64() / 1000.0;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
#endif
}

void dc_sleep_ms(int ms)
{
#ifdef _WIN32
    Sleep((DWORD)ms);
#else
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {}
#endif
}

uint64_t dc_random64(void)
{
    uint64_t v = 0;
#ifdef _WIN32
    LARGE_INTEGER c;
    QueryPerformanceCounter(&c);
    v = (uint64_t)c.QuadPart ^ ((uint64_t)GetCurrentProcessId() << 32);
#else
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &v, sizeof v) != (ssize_t)sizeof v) v = 0;
        close(fd);
    }
    if (!v) v = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
#endif
    static uint64_t counter;
    return v ^ (++counter * 0x9E3779B97F4A7C15ull);
}

char *dc_read_file(const char *path, size_t limit)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(limit + 1);
    size_t n = buf ? fread(buf, 1, limit, f) : 0;
    fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    return buf;
}

int dc_check_private_dir(const char *path, char *why, size_t why_size)
{
#ifdef _WIN32
    /* %LOCALAPPDATA% is private to the user by its ACL; nothing to check by mode. */
    DWORD attr = GetFileAttributesA(path);
    if (attr == INVALID_FILE_ATTRIBUTES || !(attr & FILE_ATTRIBUTE_DIRECTORY)) {
        snprintf(why, why_size, "runtime folder %s does not exist", path);
        return -1;
    }
    return 0;
#else
    struct stat st;
    if (lstat(path, &st) != 0) {
        snprintf(why, why_size, "runtime folder %s does not exist", path);
        return -1;
    }
    if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) {
        snprintf(why, why_size, "runtime folder %s is not a directory (a link?); remove it", path);
        return -1;
    }
    if (st.st_uid != getuid()) {
        snprintf(why, why_size, "runtime folder %s belongs to uid %u, not to you; set DCVSR_RUNTIME_DIR",
                 path, (unsigned)st.st_uid);
        return -1;
    }
    if (st.st_mode & 077) {
        snprintf(why, why_size, "runtime folder %s is open to other users; run: chmod 700 %s", path, path);
        return -1;
    }
    return 0;
#endif
}

int dc_check_private_file(const char *path)
{
#ifdef _WIN32
    (void)path;
    return 0;
#else
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    return st.st_uid == getuid() && !(st.st_mode & 077) ? 0 : -1;
#endif
}

int dc_make_private_dir(const char *path)
{
    char buf[1024];
    size_t n = strlen(path);
    if (n >= sizeof buf) return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\\' && buf[i] != 0) continue;
        char c = buf[i];
        buf[i] = 0;
#ifdef _WIN32
        CreateDirectoryA(buf, NULL);
#else
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -1;
#endif
        buf[i] = c;
    }
    return 0;
}

int dc_lock_file(const char *path, double deadline, dc_file_lock *lock)
{
#ifdef _WIN32
    HANDLE h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
                           OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) return -1;
    for (;;) {
        OVERLAPPED ov = {0};
        if (LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ov)) break;
        if (dc_now() > deadline) { CloseHandle(h); return -1; }
        dc_sleep_ms(50);
    }
    lock->fd = (intptr_t)h;
    return 0;
#else
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (dc_now() > deadline) { close(fd); return -1; }
        dc_sleep_ms(50);
    }
    lock->fd = fd;
    return 0;
#endif
}

void dc_unlock_file(dc_file_lock *lock)
{
#ifdef _WIN32
    CloseHandle((HANDLE)lock->fd);
#else
    close((int)lock->fd); /* closing drops the lock */
#endif
    lock->fd = -1;
}

#ifndef _WIN32
static void *reap(void *arg)
{
    /* The engine outlives this call; wait for it so that it never lingers as a zombie. */
    pid_t pid = (pid_t)(intptr_t)arg;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    return NULL;
}
#endif

intptr_t dc_spawn(char *const argv[], const char *runtime_dir, const char *log_path, char *why,
                  size_t why_size)
{
#ifdef _WIN32
    char cmd[4096] = "";
    for (int i = 0; argv[i]; i++) {
        size_t used = strlen(cmd);
        snprintf(cmd + used, sizeof cmd - used, "%s\"%s\"", i ? " " : "", argv[i]);
    }
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    HANDLE log = CreateFileA(log_path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, &sa,
                             OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    SetEnvironmentVariableA("DCVSR_RUNTIME_DIR", runtime_dir);
    STARTUPINFOA si = {0};
    PROCESS_INFORMATION pi = {0};
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdOutput = log;
    si.hStdError = log;
    si.hStdInput = INVALID_HANDLE_VALUE;
    BOOL ok = CreateProcessA(NULL, cmd, NULL, NULL, TRUE, DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP,
                             NULL, NULL, &si, &pi);
    if (log != INVALID_HANDLE_VALUE) CloseHandle(log);
    if (!ok) {
        snprintf(why, why_size, "cannot run %s (error %lu)", argv[0], (unsigned long)GetLastError());
        return 0;
    }
    CloseHandle(pi.hThread);
    return (intptr_t)pi.hProcess;
#else
    int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log < 0) {
        snprintf(why, why_size, "cannot open %s: %s", log_path, strerror(errno));
        return 0;
    }
    size_t n_env = 0;
    while (environ[n_env]) n_env++;
    char **env = calloc(n_env + 2, sizeof *env);
    char *setting = malloc(strlen(runtime_dir) + 32);
    if (!env || !setting) {
        free(env);
        free(setting);
        close(log);
        snprintf(why, why_size, "out of memory");
        return 0;
    }
    sprintf(setting, "DCVSR_RUNTIME_DIR=%s", runtime_dir);
    size_t k = 0;
    env[k++] = setting;
    for (size_t i = 0; i < n_env; i++)
        if (strncmp(environ[i], "DCVSR_RUNTIME_DIR=", 18) != 0) env[k++] = environ[i];
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, log, 1);
    posix_spawn_file_actions_adddup2(&fa, log, 2);
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    short flags = POSIX_SPAWN_SETSIGMASK;
#ifdef POSIX_SPAWN_SETSID
    flags |= POSIX_SPAWN_SETSID; /* a new session: the host's signals and exit do not reach it */
#endif
    posix_spawnattr_setflags(&attr, flags);
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(log);
    free(setting);
    free(env);
    if (rc != 0) {
        snprintf(why, why_size, "cannot run %s: %s", argv[0], strerror(rc));
        return 0;
    }
    return (intptr_t)pid;
#endif
}

int dc_process_exited(intptr_t process, int *status)
{
#ifdef _WIN32
    DWORD code = 0;
    if (!GetExitCodeProcess((HANDLE)process, &code) || code == STILL_ACTIVE) return 0;
    *status = (int)code;
    return 1;
#else
    int st = 0;
    pid_t r = waitpid((pid_t)process, &st, WNOHANG);
    if (r == (pid_t)process) {
        *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return 1;
    }
    if (r == 0) return 0;
    return 0;
#endif
}

void dc_detach_process(intptr_t process)
{
#ifdef _WIN32
    CloseHandle((HANDLE)process);
#else
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_create(&t, &a, reap, (void *)process);
    pthread_attr_destroy(&a);
#endif
}

/* ---- sockets ---- */
#ifdef _WIN32
static void net_init(void)
{
    static int done;
    if (!done) {
        WSADATA d;
        WSAStartup(MAKEWORD(2, 2), &d);
        done = 1;
    }
}
#endif

dc_socket *dc_connect_unix(const char *path)
{
#ifdef _WIN32
    (void)path;
    return NULL;
#else
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path) return NULL;
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return NULL;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return NULL;
    }
#ifdef SO_NOSIGPIPE
    int on = 1; /* macOS has no MSG_NOSIGNAL: the socket itself must not raise SIGPIPE */
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof on);
#endif
    dc_socket *s = malloc(sizeof *s);
    if (!s) { close(fd); return NULL; }
    s->fd = fd;
    return s;
#endif
}

dc_socket *dc_connect_tcp(const char *host, int port)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
#ifdef _WIN32
    net_init();
    addr.sin_addr.s_addr = inet_addr(host);
    SOCKET fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (fd == INVALID_SOCKET) return NULL;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        closesocket(fd);
        return NULL;
    }
    BOOL one = TRUE;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
#else
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) return NULL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return NULL;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
#ifdef SO_NOSIGPIPE
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
#endif
    dc_socket *s = malloc(sizeof *s);
    if (!s) {
#ifdef _WIN32
        closesocket(fd);
#else
        close(fd);
#endif
        return NULL;
    }
    s->fd = fd;
    return s;
}

int dc_socket_wait(dc_socket *s, int timeout_ms)
{
#ifdef _WIN32
    WSAPOLLFD p = {s->fd, POLLRDNORM, 0};
    int r = WSAPoll(&p, 1, timeout_ms);
    return r > 0 ? 1 : r == 0 ? 0 : -1;
#else
    struct pollfd p = {s->fd, POLLIN, 0};
    int r;
    do r = poll(&p, 1, timeout_ms); while (r < 0 && errno == EINTR);
    return r > 0 ? 1 : r == 0 ? 0 : -1;
#endif
}

long dc_socket_recv(dc_socket *s, void *buf, size_t n)
{
#ifdef _WIN32
    int r = recv(s->fd, buf, n > 0x40000000 ? 0x40000000 : (int)n, 0);
    return r >= 0 ? r : -1;
#else
    ssize_t r;
    do r = recv(s->fd, buf, n, 0); while (r < 0 && errno == EINTR);
    return r >= 0 ? (long)r : -1;
#endif
}

int dc_socket_send(dc_socket *s, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
#ifdef _WIN32
        int r = send(s->fd, p, n > 0x40000000 ? 0x40000000 : (int)n, 0);
        if (r <= 0) return -1;
#else
        int flags = 0;
#ifdef MSG_NOSIGNAL
        flags = MSG_NOSIGNAL; /* a dead engine must not kill the host with SIGPIPE */
#endif
        ssize_t r = send(s->fd, p, n, flags);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
#endif
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

void dc_socket_close(dc_socket *s)
{
    if (!s) return;
#ifdef _WIN32
    closesocket(s->fd);
#else
    close(s->fd);
#endif
    free(s);
}

/* ---- shared memory ---- */
void *dc_shm_map(const char *name, size_t size, char *why, size_t why_size)
{
#ifdef _WIN32
    (void)name;
    (void)size;
    snprintf(why, why_size, "shared-memory slots are not available on Windows (use the inline transport)");
    return NULL;
#else
    char path[256];
    snprintf(path, sizeof path, "/%s", name);
    int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, why_size, "cannot open shared memory %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < size) {
        close(fd);
        snprintf(why, why_size, "segment %s is smaller than announced", name);
        return NULL;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd); /* the mapping stays; the engine alone unlinks the segment */
    if (p == MAP_FAILED) {
        snprintf(why, why_size, "cannot map segment %s: %s", name, strerror(errno));
        return NULL;
    }
    return p;
#endif
}

void dc_shm_unmap(void *addr, size_t size)
{
#ifndef _WIN32
    if (addr) munmap(addr, size);
#else
    (void)addr;
    (void)size;
#endif
}

/* ---- folders ---- */
/* out = $var + suffix: 0, or 1 when var is unset or empty, or -1 when out is too small. */
static int under_env(char *out, size_t size, const char *var, const char *suffix)
{
    const char *base = getenv(var);
    if (!base || !*base) return 1;
    return snprintf(out, size, "%s%s", base, suffix) < (int)size ? 0 : -1;
}

int dc_default_runtime_dir(char *out, size_t size)
{
    int r = under_env(out, size, "DCVSR_RUNTIME_DIR", "");
    if (r <= 0) return r;
#ifdef _WIN32
    return under_env(out, size, "LOCALAPPDATA", "\\dcvsr") ? -1 : 0;
#else
    if ((r = under_env(out, size, "XDG_RUNTIME_DIR", "/dcvsr")) <= 0) return r;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    return snprintf(out, size, "%s/dcvsr-%u", tmp, (unsigned)getuid()) < (int)size ? 0 : -1;
#endif
}

int dc_config_dir(char *out, size_t size)
{
#ifdef _WIN32
    return under_env(out, size, "APPDATA", "\\dcvsr") ? -1 : 0;
#else
    int r = under_env(out, size, "XDG_CONFIG_HOME", "/dcvsr");
    if (r <= 0) return r;
    return under_env(out, size, "HOME", "/.config/dcvsr") ? -1 : 0;
#endif
}

int dc_system_config_dir(char *out, size_t size)
{
#ifdef _WIN32
    int r = under_env(out, size, "PROGRAMDATA", "\\dcvsr");
    if (r <= 0) return r;
    return snprintf(out, size, "C:\\ProgramData\\dcvsr") < (int)size ? 0 : -1;
#else
    return snprintf(out, size, "/etc/dcvsr") < (int)size ? 0 : -1;
#endif
}

int dc_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}
