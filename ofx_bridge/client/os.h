/* What the client needs from the operating system, behind one small interface so that the rest
 * compiles unchanged on Linux, macOS and Windows: clocks, files, the start lock, starting the
 * engine, sockets and mapping the engine's shared-memory segments (POSIX only). */
#ifndef DCVSR_OS_H
#define DCVSR_OS_H

#include <stddef.h>
#include <stdint.h>

#ifdef _WIN32
#define DC_PATH_SEP '\\'
#else
#define DC_PATH_SEP '/'
#endif

double dc_now(void);                 /* monotonic seconds */
void dc_sleep_ms(int ms);
uint64_t dc_random64(void);          /* for identifiers, not secrets */

/* Read a whole small file into a NUL-terminated malloc'd string (NULL if unreadable). */
char *dc_read_file(const char *path, size_t limit);
/* 0 if path is a private directory of this user (mode 0700, not a link); else -1 with why. */
int dc_check_private_dir(const char *path, char *why, size_t why_size);
/* 0 if the file belongs to this user and is closed to others; else -1. */
int dc_check_private_file(const char *path);
/* Create the directory (and missing parents) with mode 0700; 0 or -1. */
int dc_make_private_dir(const char *path);

/* An exclusive lock on a file, waited for until the deadline (dc_now seconds). */
typedef struct { intptr_t fd; } dc_file_lock;
int dc_lock_file(const char *path, double deadline, dc_file_lock *lock);
void dc_unlock_file(dc_file_lock *lock);

/* Start argv[0] with argv in a new session, output appended to log_path, with
 * DCVSR_RUNTIME_DIR=runtime_dir added to the environment. Returns a process handle (> 0) or 0
 * with why set. dc_process_exited says whether it ended (and its status). */
intptr_t dc_spawn(char *const argv[], const char *runtime_dir, const char *log_path, char *why,
                  size_t why_size);
int dc_process_exited(intptr_t process, int *status);
/* Stop watching a started process: it is reaped in the background when it ends. */
void dc_detach_process(intptr_t process);

/* Sockets. */
typedef struct dc_socket dc_socket;
dc_socket *dc_connect_unix(const char *path);              /* NULL if nobody listens */
dc_socket *dc_connect_tcp(const char *host, int port);     /* NULL if nobody listens */
/* Wait until readable: 1 readable (or closed), 0 timed out, -1 error. */
int dc_socket_wait(dc_socket *s, int timeout_ms);
long dc_socket_recv(dc_socket *s, void *buf, size_t n);    /* > 0, 0 closed, -1 error */
/* Send every byte (no SIGPIPE): 0 or -1. */
int dc_socket_send(dc_socket *s, const void *buf, size_t n);
void dc_socket_close(dc_socket *s);

/* Map a POSIX shared-memory segment read-write ("/" + name). NULL with why set if it cannot. */
void *dc_shm_map(const char *name, size_t size, char *why, size_t why_size);
void dc_shm_unmap(void *addr, size_t size);

/* The user's runtime folder (docs/protocol.md section 1), without the trailing separator. */
int dc_default_runtime_dir(char *out, size_t size);
/* The user's configuration folder for dcvsr ($XDG_CONFIG_HOME/dcvsr, %APPDATA%\dcvsr). */
int dc_config_dir(char *out, size_t size);
/* The machine's configuration folder for dcvsr (/etc/dcvsr, %PROGRAMDATA%\\dcvsr). */
int dc_system_config_dir(char *out, size_t size);
/* 1 if path names a regular file (after links), else 0. */
int dc_is_file(const char *path);

#endif
