/*
 * runtime — the `process` kind of function: a warm pool of child processes
 * that speak the AWS Lambda runtime API (2018-06-01) over loopback HTTP, so
 * a stock custom-runtime `bootstrap` runs unchanged.
 *
 * Model. A function has `concurrency` slots. A slot holds at most one
 * runtime process at a time, and each process gets a listener of its own
 * (AWS_LAMBDA_RUNTIME_API=127.0.0.1:<port>): whatever arrives on a listener
 * comes from that process or its children, so which process holds which
 * call is known, never guessed. A process goes through
 *   INIT   spawned, has not asked for work yet (the init deadline runs)
 *   IDLE   its GET /invocation/next is parked; the slot is on rt->idle
 *   BUSY   it holds a call: its /next was answered with the event; it
 *          answers with /response or /error, then asks /next again (a /next
 *          while BUSY fails the held call)
 *   DYING  killed by us (cancel, /init/error, init deadline): SIGKILL to
 *          its process group; its exit is then handled like any other.
 * Exit is seen through a pidfd on the loop: the process is reaped, what is
 * left of its process group killed, and one loop pass later (so a reply it
 * sent just before dying is read first) its listener is freed, a call it
 * held fails with Runtime.ExitError, and the slot's timer spawns a
 * replacement: at once after a kill for a timeout, else after a backoff of
 * 0, 100 ms, 200 ms ... 5 s that resets when the slot answers a call.
 *
 * Calls. start() queues the call (rt->queue, oldest first) and hands queued
 * calls to idle processes. functions.c starts at most `concurrency` calls,
 * so the queue only holds calls waiting for a process being started or
 * replaced. While no process of the pool is past init, every failed init
 * (an /init/error, an exit or kill before the first /next, a failed spawn)
 * fails the oldest queued call with Runtime.InitError, so the callers of a
 * broken function are not left waiting for their timeout. cancel() drops a
 * queued call, or kills the process that holds it.
 *
 * Results. /response: the body must be JSON (the contract of functions.h);
 * an empty body counts as null; anything else is still accepted (202, as
 * Lambda does) but fails the call with Runtime.InvalidResponse. A body over
 * 6291556 bytes (Lambda's limit) gets 413 and fails the call with
 * Function.ResponseSizeTooLarge. /error: the body is the error document, and
 * one that is not a JSON object is wrapped as its errorMessage; the error
 * type is the Lambda-Runtime-Function-Error-Type header ("Unhandled" when
 * absent). Unknown or already answered request ids get 400 InvalidRequestID,
 * unknown paths 404, wrong methods 405.
 *
 * Children: fork + execve with setsid (a process group to kill), stdin
 * from /dev/null, stdout onto stderr (the daemon's stdout stays clean),
 * every other fd closed, RLIMIT_AS = memory_mb when set, and SIGKILL when
 * the daemon dies. The environment is Lambda's (see runtime_env), then the
 * function's env, which wins except over AWS_LAMBDA_RUNTIME_API.
 *
 * Threads: none of its own; everything runs on the loop thread. Between fork
 * and execve the child makes async-signal-safe calls only.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "functions/backend.h"
#include "net/http_server.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/jv.h"
#include "util/kv.h"
#include "util/list.h"
#include "util/logging.h"

#define RT_PAYLOAD_MAX 6291556u      /* Lambda's limit on a response or error payload */
#define RT_BODY_MAX (12u << 20)       /* the listener's limit: room to see and refuse an oversize one */
#define RT_MAX_CONNS 64u              /* a curl-based bootstrap opens one per request */
#define RT_IDLE_MS (16 * 60 * 1000)   /* a kept-alive connection waits out the longest handler */
#define RT_REQUEST_MS (5 * 60 * 1000)
#define RT_INIT_TIMEOUT_MS 10000      /* spawn to first /next, as Lambda's init phase */
#define RT_BACKOFF_MIN_MS 100
#define RT_BACKOFF_MAX_MS 5000
#define RT_ERROR_TYPE_MAX 64
#define RT_ID_MAX 256
#define RT_API_PREFIX "/2018-06-01/runtime/"

typedef struct rt rt_t;

typedef struct rt_call {
    uint64_t id;
    char *event; /* freed once handed out */
    size_t event_len;
    char *request_id;
    char *trace_header; /* Lambda-Runtime-Trace-Id, or NULL */
    uint64_t deadline_wall_ms;
    list_t link; /* rt->queue while waiting for a process */
} rt_call_t;

typedef enum { KILL_NONE, KILL_CANCEL, KILL_INIT_ERROR, KILL_INIT_TIMEOUT } rt_kill_t;

typedef struct rt_slot {
    rt_t *rt;
    unsigned index;
    pid_t pid;          /* 0: no process (a respawn is due) */
    loop_io_t exit_io;  /* the process's pidfd */
    int exited;         /* reaped; the rest of its end runs from the timer */
    int status;         /* its wait status */
    http_server_t *srv; /* its runtime API listener */
    int port;
    http_ex_t *next;    /* its parked GET /invocation/next */
    list_t idle_link;   /* in rt->idle while next is parked */
    rt_call_t *call;    /* the call it holds */
    int inited;         /* it has asked for an invocation */
    rt_kill_t killed;
    char *init_error;   /* the body of its POST /init/error */
    uint32_t backoff_ms;
    loop_timer_t timer; /* init deadline, end of an exit, or respawn */
} rt_slot_t;

struct rt {
    functions_t *fs;
    const fn_def_t *def; /* owned by the function, which outlives the backend */
    loop_t *loop;
    char *command;       /* absolute */
    char *task_root;     /* absolute */
    char arn[256];
    kvv_t env;           /* the children's environment but the API address */
    rt_slot_t *slots;
    unsigned nslots;
    list_t queue;        /* rt_call_t waiting for a process, oldest first */
    list_t idle;         /* slots whose /next is parked, longest waiting first */
};

static void runtime_dispatch(rt_t *rt);

/* ---- calls ----------------------------------------------------------------------------------- */

/* A copy of a request id that is safe in a header line and a path segment. */
static char *request_id_copy(const char *id)
{
    char *s = xstrdup(id ? id : "");
    for (char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || strchr("/?%#", *p))
            *p = '_';
    return s;
}

static rt_call_t *call_new(const fn_call_t *fc)
{
    rt_call_t *c = xcalloc(1, sizeof *c);
    c->id = fc->id;
    c->event = xmemdup(fc->event, fc->event_len);
    c->event_len = fc->event_len;
    c->request_id = request_id_copy(fc->request_id);
    c->trace_header = fc->trace_header ? xstrdup(fc->trace_header) : NULL;
    c->deadline_wall_ms = fc->deadline_wall_ms;
    list_init(&c->link);
    return c;
}

static void call_free(rt_call_t *c)
{
    free(c->event);
    free(c->request_id);
    free(c->trace_header);
    free(c);
}

/* Frees the call, then reports its outcome (which may start other calls). */
static void call_finish(rt_t *rt, rt_call_t *c, const fn_result_t *r)
{
    uint64_t id = c->id;
    call_free(c);
    functions__done(rt->fs, id, r);
}

/* Fails the call with the error document {errorMessage: fmt..., errorType: type}. */
static void __attribute__((format(printf, 4, 5)))
call_fail(rt_t *rt, rt_call_t *c, const char *type, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    buf_t doc = BUF_INIT;
    fn__error_doc(&doc, type, msg);
    fn_result_t r = {.ok = 0, .payload = doc.data, .len = doc.len, .error_type = type};
    call_finish(rt, c, &r);
    buf_free(&doc);
}

/* -1 if p[0..n) is not JSON, else the type of its value. */
static int json_kind(const char *p, size_t n, char *why, size_t why_len)
{
    jv_doc_t *d = jv_doc_new();
    jv_t *v = jv_parse(d, p, n, why, why_len);
    int kind = v ? (int)v->type : -1;
    jv_doc_free(d);
    return kind;
}

/* The error document of a call: body when it is a JSON object, else body
 * wrapped as the errorMessage of one. */
static void error_doc_from(buf_t *out, const char *type, const char *body, size_t len)
{
    char why[64];
    if (json_kind(body, len, why, sizeof why) == JV_OBJECT) {
        buf_append(out, body, len);
        return;
    }
    char *text = xmemdup(body, len);
    fn__error_doc(out, type, text);
    free(text);
}

/* ---- environment and paths ------------------------------------------------------------------- */

static char *absolute_path(const char *p)
{
    if (p[0] == '/')
        return xstrdup(p);
    char *cwd = getcwd(NULL, 0);
    buf_t b = BUF_INIT;
    buf_printf(&b, "%s/%s", cwd ? cwd : ".", p);
    free(cwd);
    return buf_detach(&b, NULL);
}

/* The command (an executable file) and the task root (dir, else the command's directory). */
static int runtime_paths(rt_t *rt, char *why, size_t why_len)
{
    const fn_def_t *d = rt->def;
    struct stat st;
    if (!d->command || !*d->command) {
        snprintf(why, why_len, "a process function needs a command");
        return -1;
    }
    rt->command = absolute_path(d->command);
    if (stat(rt->command, &st) != 0 || !S_ISREG(st.st_mode) || access(rt->command, X_OK) != 0) {
        snprintf(why, why_len, "command %s is not an executable file", rt->command);
        return -1;
    }
    if (d->dir && *d->dir) {
        rt->task_root = absolute_path(d->dir);
    } else {
        rt->task_root = xstrdup(rt->command);
        char *slash = strrchr(rt->task_root, '/');
        slash[slash == rt->task_root ? 1 : 0] = '\0';
    }
    if (stat(rt->task_root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(why, why_len, "dir %s is not a directory", rt->task_root);
        return -1;
    }
    return 0;
}

/* Lambda's variables, then the function's env (which wins). */
static void runtime_env(rt_t *rt)
{
    static const char *const inherited[] = {"PATH", "HOME", "LANG"};
    const fn_def_t *d = rt->def;
    kvv_t *e = &rt->env;
    char text[256];
    for (size_t i = 0; i < sizeof inherited / sizeof *inherited; i++)
        if (getenv(inherited[i]))
            kvv_set(e, inherited[i], getenv(inherited[i]));
    if (!kvv_get(e, "PATH"))
        kvv_set(e, "PATH", "/usr/local/bin:/usr/bin:/bin");
    kvv_set(e, "_HANDLER", d->handler);
    kvv_set(e, "LAMBDA_TASK_ROOT", rt->task_root);
    kvv_set(e, "AWS_LAMBDA_FUNCTION_NAME", d->name);
    kvv_set(e, "AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    snprintf(text, sizeof text, "%u", d->memory_mb ? d->memory_mb : 128);
    kvv_set(e, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", text);
    kvv_set(e, "AWS_REGION", functions_region(rt->fs));
    kvv_set(e, "AWS_DEFAULT_REGION", functions_region(rt->fs));
    snprintf(text, sizeof text, "/aws/lambda/%s", d->name);
    kvv_set(e, "AWS_LAMBDA_LOG_GROUP_NAME", text);
    kvv_set(e, "TZ", ":UTC");
    for (size_t i = 0; i < d->nenv; i++)
        kvv_set(e, d->env[i].key, d->env[i].val);
    kvv_del(e, "AWS_LAMBDA_RUNTIME_API");
}

/* The child's envp: the API address, then rt->env. Free with env_block_free. */
static char **env_block(const rt_t *rt, int port)
{
    char **envp = xcalloc(rt->env.n + 2, sizeof *envp);
    buf_t b = BUF_INIT;
    buf_printf(&b, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:%d", port);
    envp[0] = buf_detach(&b, NULL);
    for (size_t i = 0; i < rt->env.n; i++) {
        buf_printf(&b, "%s=%s", rt->env.v[i].key, rt->env.v[i].val);
        envp[i + 1] = buf_detach(&b, NULL);
    }
    return envp;
}

static void env_block_free(char **envp)
{
    for (char **p = envp; *p; p++)
        free(*p);
    free(envp);
}

/* ---- the child ------------------------------------------------------------------------------- */

/* Runs in the forked child: async-signal-safe calls only. */
static _Noreturn void child_exec(const rt_t *rt, char **envp, pid_t parent)
{
    static const char msg[] = "sluice: cannot start the runtime command\n";
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL); /* the daemon blocks SIGTERM/SIGINT for its signalfd */
    signal(SIGPIPE, SIG_DFL);              /* an ignored signal stays ignored across execve */
    setsid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127); /* the daemon died before prctl */
    if (rt->def->memory_mb) {
        struct rlimit rl = {(rlim_t)rt->def->memory_mb << 20, (rlim_t)rt->def->memory_mb << 20};
        setrlimit(RLIMIT_AS, &rl);
    }
    int in = open("/dev/null", O_RDONLY);
    if (in > 0)
        dup2(in, 0);
    dup2(2, 1);
    close_range(3, ~0U, 0);
    char *argv[] = {rt->command, NULL};
    if (chdir(rt->task_root) == 0)
        execve(rt->command, argv, envp);
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(127);
}

/* ---- slots: spawn, kill, exit ------------------------------------------------------------------ */

static void api_on_request(http_ex_t *ex, void *arg);
static void slot_on_exit(loop_t *loop, int fd, uint32_t events, void *arg);

static int slot_listen(rt_slot_t *s, char *why, size_t why_len)
{
    http_server_config_t cfg;
    http_server_config_defaults(&cfg);
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    cfg.limits.max_body = RT_BODY_MAX;
    cfg.max_connections = RT_MAX_CONNS;
    cfg.idle_timeout_ms = RT_IDLE_MS;
    cfg.request_timeout_ms = RT_REQUEST_MS;
    cfg.write_timeout_ms = RT_REQUEST_MS;
    s->srv = http_server_new(s->rt->loop, &cfg, api_on_request, s, why, why_len);
    if (!s->srv)
        return -1;
    s->port = http_server_port(s->srv);
    return 0;
}

/* Frees the listener; a parked /next is aborted (api_next_aborted). */
static void slot_unlisten(rt_slot_t *s)
{
    if (s->srv)
        http_server_free(s->srv);
    s->srv = NULL;
    s->port = 0;
}

/* Forks the child and watches its pidfd. Returns the pid, or -1. */
static pid_t slot_fork(rt_slot_t *s, char *why, size_t why_len)
{
    rt_t *rt = s->rt;
    char **envp = env_block(rt, s->port);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        child_exec(rt, envp, parent);
    int err = errno;
    env_block_free(envp);
    if (pid < 0) {
        snprintf(why, why_len, "fork: %s", strerror(err));
        return -1;
    }
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pfd >= 0 && loop_io_start(rt->loop, &s->exit_io, pfd, EPOLLIN, slot_on_exit, s) == 0)
        return pid;
    snprintf(why, why_len, "cannot watch the runtime process: %s", strerror(pfd < 0 ? errno : EINVAL));
    if (pfd >= 0)
        close(pfd);
    s->exit_io.fd = -1;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return -1;
}

static int slot_spawn(rt_slot_t *s, char *why, size_t why_len)
{
    if (slot_listen(s, why, why_len) < 0)
        return -1;
    pid_t pid = slot_fork(s, why, why_len);
    if (pid < 0) {
        slot_unlisten(s);
        return -1;
    }
    s->pid = pid;
    s->inited = 0;
    s->exited = 0;
    s->killed = KILL_NONE;
    loop_timer_start(s->rt->loop, &s->timer, RT_INIT_TIMEOUT_MS);
    log_info("runtime_spawned", "function=%s slot=%u pid=%d port=%d", s->rt->def->name, s->index, (int)pid,
             s->port);
    return 0;
}

static const char *kill_reason(rt_kill_t k)
{
    switch (k) {
    case KILL_CANCEL: return "timeout";
    case KILL_INIT_ERROR: return "init_error";
    case KILL_INIT_TIMEOUT: return "init_timeout";
    default: return "none";
    }
}

/* SIGKILL to the process and its group; its exit is handled as usual. */
static void slot_kill(rt_slot_t *s, rt_kill_t why)
{
    if (!s->pid || s->exited || s->killed != KILL_NONE)
        return;
    s->killed = why;
    loop_timer_stop(s->rt->loop, &s->timer);
    kill(-s->pid, SIGKILL);
    kill(s->pid, SIGKILL); /* in case it has not reached setsid */
    log_warn("runtime_killed", "function=%s pid=%d reason=%s", s->rt->def->name, (int)s->pid, kill_reason(why));
}

/* The delay before the next respawn after a failure: 0, then 100 ms doubling to 5 s. */
static uint32_t slot_backoff(rt_slot_t *s)
{
    uint32_t d = s->backoff_ms;
    s->backoff_ms = d ? (d * 2 > RT_BACKOFF_MAX_MS ? RT_BACKOFF_MAX_MS : d * 2) : RT_BACKOFF_MIN_MS;
    return d;
}

/* Whether some process of the pool is past init and not being killed. */
static int pool_has_ready(const rt_t *rt)
{
    for (unsigned i = 0; i < rt->nslots; i++) {
        const rt_slot_t *s = &rt->slots[i];
        if (s->pid && !s->exited && s->inited && s->killed == KILL_NONE)
            return 1;
    }
    return 0;
}

/* A process failed init: while none is ready, the oldest queued call fails
 * with the runtime's init error document, or with how it failed. */
static void runtime_init_failed(rt_t *rt, const char *init_error, const char *how)
{
    list_t *q = list_first(&rt->queue);
    if (!q || pool_has_ready(rt))
        return;
    rt_call_t *c = list_entry(q, rt_call_t, link);
    list_del(q);
    if (!init_error) {
        call_fail(rt, c, "Runtime.InitError", "RequestId: %s Error: Runtime failed to initialize: %s", c->request_id,
                  how);
        return;
    }
    buf_t doc = BUF_INIT;
    error_doc_from(&doc, "Runtime.InitError", init_error, strlen(init_error));
    fn_result_t r = {.ok = 0, .payload = doc.data, .len = doc.len, .error_type = "Runtime.InitError"};
    call_finish(rt, c, &r);
    buf_free(&doc);
}

/* "exit status N", "signal: killed": how Lambda words a runtime's end. */
static void describe_exit(int status, char *out, size_t n)
{
    if (WIFEXITED(status)) {
        snprintf(out, n, "exit status %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        int len = snprintf(out, n, "signal: %s", strsignal(WTERMSIG(status)));
        if (len > 8 && out[8] >= 'A' && out[8] <= 'Z')
            out[8] = (char)(out[8] - 'A' + 'a');
    } else {
        snprintf(out, n, "wait status %d", status);
    }
}

/* The held call, if any, fails because its runtime ended. */
static void slot_fail_held(rt_t *rt, rt_call_t *c, int status, const char *how)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        call_fail(rt, c, "Runtime.ExitError", "RequestId: %s Error: Runtime exited without providing a reason",
                  c->request_id);
    else
        call_fail(rt, c, "Runtime.ExitError", "RequestId: %s Error: Runtime exited with error: %s", c->request_id,
                  how);
}

/* The process is gone: free its listener, schedule its replacement, then
 * report what its end means for the calls. */
static void slot_ended(rt_slot_t *s)
{
    rt_t *rt = s->rt;
    char how[96];
    describe_exit(s->status, how, sizeof how);
    rt_call_t *held = s->call;
    char *init_error = s->init_error;
    int init_failed = !s->inited;
    rt_kill_t killed = s->killed;
    log_emit(killed == KILL_CANCEL ? LOG_INFO : LOG_WARN, "runtime_exited",
             "function=%s pid=%d how=\"%s\" killed=%s request_id=%s", rt->def->name, (int)s->pid, how,
             kill_reason(killed), held ? held->request_id : "-");
    s->call = NULL;
    s->init_error = NULL;
    s->pid = 0;
    s->exited = 0;
    s->inited = 0;
    s->killed = KILL_NONE;
    slot_unlisten(s);
    loop_timer_start(rt->loop, &s->timer, killed == KILL_CANCEL ? 0 : slot_backoff(s));
    if (held)
        slot_fail_held(rt, held, s->status, how);
    else if (init_failed)
        runtime_init_failed(rt, init_error, killed == KILL_INIT_TIMEOUT ? "no request for work within 10 s" : how);
    free(init_error);
}

/* The pidfd is readable: the process has exited. Reap it and kill what is
 * left of its group now; the rest waits for the timer phase of this loop
 * pass, after the I/O of the pass (a reply it sent before dying). */
static void slot_on_exit(loop_t *loop, int fd, uint32_t events, void *arg)
{
    (void)events;
    rt_slot_t *s = arg;
    int status = 0;
    kill(-s->pid, SIGKILL);
    while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
        ;
    loop_io_stop(loop, &s->exit_io);
    close(fd);
    s->exited = 1;
    s->status = status;
    if (list_linked(&s->idle_link))
        list_del(&s->idle_link); /* its parked /next can take no call now */
    loop_timer_start(loop, &s->timer, 0);
}

/* The slot timer: end of an exit, init deadline, or respawn. */
static void slot_on_timer(loop_t *loop, loop_timer_t *t)
{
    rt_slot_t *s = t->arg;
    char why[256];
    if (s->exited) {
        slot_ended(s);
        return;
    }
    if (s->pid) {
        slot_kill(s, KILL_INIT_TIMEOUT);
        return;
    }
    if (slot_spawn(s, why, sizeof why) == 0)
        return;
    log_error("runtime_spawn_failed", "function=%s reason=\"%s\"", s->rt->def->name, why);
    uint32_t delay = slot_backoff(s);
    loop_timer_start(loop, t, delay > RT_BACKOFF_MIN_MS ? delay : RT_BACKOFF_MIN_MS);
    runtime_init_failed(s->rt, NULL, why);
}

/* At close: kill and reap at once, free everything; no reports. */
static void slot_stop(rt_slot_t *s)
{
    loop_timer_stop(s->rt->loop, &s->timer);
    if (s->pid && !s->exited) {
        kill(-s->pid, SIGKILL);
        kill(s->pid, SIGKILL);
        while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        int fd = s->exit_io.fd;
        loop_io_stop(s->rt->loop, &s->exit_io);
        close(fd);
    }
    s->pid = 0;
    slot_unlisten(s);
    if (s->call)
        call_free(s->call);
    s->call = NULL;
    free(s->init_error);
    s->init_error = NULL;
}

/* ---- dispatch -------------------------------------------------------------------------------- */

/* Answers the slot's parked /next with the call. */
static void slot_hand_out(rt_slot_t *s, rt_call_t *c)
{
    buf_t h = BUF_INIT;
    buf_printf(&h,
               "Lambda-Runtime-Aws-Request-Id: %s\r\nLambda-Runtime-Deadline-Ms: %llu\r\n"
               "Lambda-Runtime-Invoked-Function-Arn: %s\r\n",
               c->request_id, (unsigned long long)c->deadline_wall_ms, s->rt->arn);
    if (c->trace_header) /* checked printable when the call was named (function_trace) */
        buf_printf(&h, "Lambda-Runtime-Trace-Id: %s\r\n", c->trace_header);
    http_ex_t *ex = s->next;
    s->next = NULL;
    s->call = c;
    http_ex_reply(ex, 200, "application/json", h.data, c->event, c->event_len, 0);
    buf_free(&h);
    free(c->event);
    c->event = NULL;
}

static void runtime_dispatch(rt_t *rt)
{
    list_t *q, *i;
    while ((q = list_first(&rt->queue)) && (i = list_first(&rt->idle))) {
        list_del(q);
        list_del(i);
        slot_hand_out(list_entry(i, rt_slot_t, idle_link), list_entry(q, rt_call_t, link));
    }
}

/* ---- the runtime API ------------------------------------------------------------------------- */

typedef enum { API_NONE, API_NEXT, API_RESPONSE, API_ERROR, API_INIT_ERROR } api_route_t;

static void api_reply(http_ex_t *ex, int status, const char *extra, const char *body)
{
    http_ex_reply(ex, status, "application/json", extra, body, strlen(body), 0);
}

static void api_reply_error(http_ex_t *ex, int status, const char *extra, const char *type, const char *msg)
{
    buf_t doc = BUF_INIT;
    fn__error_doc(&doc, type, msg);
    http_ex_reply(ex, status, "application/json", extra, doc.data, doc.len, 0);
    buf_free(&doc);
}

static void api_accepted(http_ex_t *ex)
{
    api_reply(ex, 202, NULL, "{\"status\":\"OK\"}");
}

/* The route of a request target; id gets the request id of /response and /error. */
static api_route_t api_route(const http_head_t *h, char *id, size_t id_len)
{
    size_t n = h->target_len, plen = sizeof RT_API_PREFIX - 1;
    const char *q = memchr(h->target, '?', n);
    if (q)
        n = (size_t)(q - h->target);
    if (n <= plen || memcmp(h->target, RT_API_PREFIX, plen) != 0)
        return API_NONE;
    const char *p = h->target + plen;
    n -= plen;
    if (n == 15 && memcmp(p, "invocation/next", 15) == 0)
        return API_NEXT;
    if (n == 10 && memcmp(p, "init/error", 10) == 0)
        return API_INIT_ERROR;
    if (n <= 11 || memcmp(p, "invocation/", 11) != 0)
        return API_NONE;
    p += 11, n -= 11;
    const char *slash = memchr(p, '/', n);
    size_t idn = slash ? (size_t)(slash - p) : 0, rest = n - idn;
    if (!slash || idn == 0 || idn >= id_len)
        return API_NONE;
    memcpy(id, p, idn);
    id[idn] = '\0';
    if (rest == 9 && memcmp(slash, "/response", 9) == 0)
        return API_RESPONSE;
    if (rest == 6 && memcmp(slash, "/error", 6) == 0)
        return API_ERROR;
    return API_NONE;
}

static int method_is(const http_head_t *h, const char *m)
{
    size_t n = strlen(m);
    return h->method_len == n && memcmp(h->method, m, n) == 0;
}

/* The held call the runtime answers, or NULL (400 InvalidRequestID sent). */
static rt_call_t *api_take_call(rt_slot_t *s, http_ex_t *ex, const char *id)
{
    rt_call_t *c = s->call;
    if (!c || strcmp(c->request_id, id) != 0) {
        api_reply_error(ex, 400, NULL, "InvalidRequestID", "Invalid request ID");
        return NULL;
    }
    s->call = NULL;
    s->backoff_ms = 0; /* it answered: not crash-looping */
    return c;
}

/* A payload over Lambda's limit: 413 to the runtime, and the call fails. */
static void api_too_large(rt_slot_t *s, http_ex_t *ex, rt_call_t *c)
{
    char msg[128];
    snprintf(msg, sizeof msg, "Exceeded maximum allowed payload size (%u bytes).", RT_PAYLOAD_MAX);
    api_reply_error(ex, 413, NULL, "RequestEntityTooLarge", msg);
    call_fail(s->rt, c, "Function.ResponseSizeTooLarge",
              "Response payload size exceeded maximum allowed payload size (%u bytes).", RT_PAYLOAD_MAX);
}

static void api_next_aborted(http_ex_t *ex, void *arg)
{
    (void)ex;
    rt_slot_t *s = arg;
    s->next = NULL;
    if (list_linked(&s->idle_link))
        list_del(&s->idle_link);
}

/* A /next while it holds a call: that call will never be answered. */
static void slot_abandoned(rt_slot_t *s)
{
    rt_call_t *c = s->call;
    s->call = NULL;
    log_warn("runtime_abandoned_call", "function=%s pid=%d request_id=%s", s->rt->def->name, (int)s->pid,
             c->request_id);
    call_fail(s->rt, c, "Runtime.InvalidResponse",
              "RequestId: %s Error: Runtime asked for the next invocation without answering this one", c->request_id);
}

static void api_next(rt_slot_t *s, http_ex_t *ex)
{
    if (s->killed != KILL_NONE || s->exited) {
        api_reply_error(ex, 403, NULL, "InvalidStateTransition", "The runtime is being stopped");
        return;
    }
    if (!s->inited) {
        s->inited = 1;
        loop_timer_stop(s->rt->loop, &s->timer); /* the init deadline */
    }
    if (s->call)
        slot_abandoned(s);
    if (s->next) { /* a second long poll: the newest one is the one waited on */
        http_ex_t *old = s->next;
        old->on_abort = NULL;
        list_del(&s->idle_link);
        s->next = NULL;
        api_reply_error(old, 403, NULL, "InvalidStateTransition", "Another request for the next invocation came");
    }
    s->next = ex;
    ex->on_abort = api_next_aborted;
    ex->abort_arg = s;
    list_push_back(&s->rt->idle, &s->idle_link);
    runtime_dispatch(s->rt);
}

/* The call a /response or /error names, when its body is within the limit
 * (else the call fails as too large and NULL comes back; so it does for an
 * unknown id, answered by api_take_call). */
static rt_call_t *api_take_sized(rt_slot_t *s, http_ex_t *ex, const char *id, size_t len)
{
    rt_call_t *c = api_take_call(s, ex, id);
    if (c && len > RT_PAYLOAD_MAX) {
        api_too_large(s, ex, c);
        return NULL;
    }
    return c;
}

static void api_response(rt_slot_t *s, http_ex_t *ex, const char *id)
{
    const char *body = ex->body_len ? ex->body : "null"; /* valid through this handler call */
    size_t len = ex->body_len ? ex->body_len : 4;
    char why[128];
    rt_call_t *c = api_take_sized(s, ex, id, len);
    if (!c)
        return;
    api_accepted(ex);
    if (json_kind(body, len, why, sizeof why) < 0) {
        call_fail(s->rt, c, "Runtime.InvalidResponse", "RequestId: %s Error: the response is not JSON (%s)",
                  c->request_id, why);
        return;
    }
    fn_result_t r = {.ok = 1, .payload = body, .len = len};
    call_finish(s->rt, c, &r);
}

/* The Lambda-Runtime-Function-Error-Type header, kept to a plain token; "Unhandled" by default. */
static void error_type_of(const http_head_t *h, char *out, size_t n)
{
    const http_header_t *t = http_head_find(h, "Lambda-Runtime-Function-Error-Type");
    size_t k = 0;
    for (size_t i = 0; t && i < t->value_len && k + 1 < n; i++) {
        char ch = t->value[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("._-:", ch))
            out[k++] = ch;
    }
    out[k] = '\0';
    if (k == 0)
        snprintf(out, n, "Unhandled");
}

static void api_error(rt_slot_t *s, http_ex_t *ex, const char *id)
{
    const char *body = ex->body;
    size_t len = ex->body_len;
    char type[RT_ERROR_TYPE_MAX + 1];
    error_type_of(ex->head, type, sizeof type);
    rt_call_t *c = api_take_sized(s, ex, id, len);
    if (!c)
        return;
    buf_t doc = BUF_INIT;
    error_doc_from(&doc, type, body, len);
    api_accepted(ex);
    fn_result_t r = {.ok = 0, .payload = doc.data, .len = doc.len, .error_type = type};
    call_finish(s->rt, c, &r);
    buf_free(&doc);
}

static void api_init_error(rt_slot_t *s, http_ex_t *ex)
{
    if (s->inited) {
        api_reply_error(ex, 403, NULL, "InvalidStateTransition", "Init error after the runtime asked for work");
        return;
    }
    free(s->init_error);
    s->init_error = xmemdup(ex->body, ex->body_len > RT_PAYLOAD_MAX ? RT_PAYLOAD_MAX : ex->body_len);
    api_accepted(ex);
    log_warn("runtime_init_error", "function=%s pid=%d", s->rt->def->name, (int)s->pid);
    slot_kill(s, KILL_INIT_ERROR);
}

static void api_on_request(http_ex_t *ex, void *arg)
{
    rt_slot_t *s = arg;
    char id[RT_ID_MAX];
    api_route_t route = api_route(ex->head, id, sizeof id);
    if (route == API_NONE) {
        api_reply_error(ex, 404, NULL, "NotFound", "No such runtime API path");
        return;
    }
    const char *method = route == API_NEXT ? "GET" : "POST";
    if (!method_is(ex->head, method)) {
        api_reply_error(ex, 405, route == API_NEXT ? "Allow: GET\r\n" : "Allow: POST\r\n", "MethodNotAllowed",
                        "Method not allowed on this path");
        return;
    }
    switch (route) {
    case API_NEXT: api_next(s, ex); break;
    case API_RESPONSE: api_response(s, ex, id); break;
    case API_ERROR: api_error(s, ex, id); break;
    default: api_init_error(s, ex); break;
    }
}

/* ---- the backend ----------------------------------------------------------------------------- */

static void runtime_start(void *be, const fn_call_t *fc)
{
    rt_t *rt = be;
    rt_call_t *c = call_new(fc);
    list_push_back(&rt->queue, &c->link);
    runtime_dispatch(rt);
}

static void runtime_cancel(void *be, uint64_t call_id)
{
    rt_t *rt = be;
    list_for_each(pos, &rt->queue)
    {
        rt_call_t *c = list_entry(pos, rt_call_t, link);
        if (c->id == call_id) {
            list_del(&c->link);
            call_free(c);
            return;
        }
    }
    for (unsigned i = 0; i < rt->nslots; i++) {
        rt_slot_t *s = &rt->slots[i];
        if (s->call && s->call->id == call_id) {
            call_free(s->call);
            s->call = NULL;
            slot_kill(s, KILL_CANCEL);
            return;
        }
    }
}

static void runtime_close(void *be)
{
    rt_t *rt = be;
    for (unsigned i = 0; i < rt->nslots; i++)
        slot_stop(&rt->slots[i]);
    list_t *q;
    while ((q = list_first(&rt->queue))) {
        list_del(q);
        call_free(list_entry(q, rt_call_t, link));
    }
    if (rt->slots)
        loop_defer_free(rt->loop, rt->slots); /* events of this loop pass may still point at a slot */
    kvv_free(&rt->env);
    free(rt->command);
    free(rt->task_root);
    free(rt);
}

static const fn_backend_ops_t runtime_ops = {runtime_start, runtime_cancel, runtime_close};

static void slot_init(rt_t *rt, rt_slot_t *s, unsigned index)
{
    s->rt = rt;
    s->index = index;
    s->exit_io.fd = -1;
    list_init(&s->idle_link);
    loop_timer_init(&s->timer, slot_on_timer, s);
}

/* The backend, its processes not yet spawned; NULL with a reason when the paths are wrong. */
static rt_t *runtime_new(functions_t *fs, function_t *f, const fn_def_t *def, char *why, size_t why_len)
{
    rt_t *rt = xcalloc(1, sizeof *rt);
    rt->fs = fs;
    rt->def = def;
    rt->loop = functions_loop(fs);
    list_init(&rt->queue);
    list_init(&rt->idle);
    if (runtime_paths(rt, why, why_len) < 0) {
        runtime_close(rt);
        return NULL;
    }
    function_arn(f, rt->arn, sizeof rt->arn);
    runtime_env(rt);
    rt->nslots = def->concurrency ? def->concurrency : 1;
    rt->slots = xcalloc(rt->nslots, sizeof *rt->slots);
    for (unsigned i = 0; i < rt->nslots; i++)
        slot_init(rt, &rt->slots[i], i);
    return rt;
}

int fn_runtime_open(functions_t *fs, function_t *f, const fn_def_t *def, const fn_backend_ops_t **ops, void **be,
                    char *why, size_t why_len)
{
    rt_t *rt = runtime_new(fs, f, def, why, why_len);
    if (!rt)
        return -1;
    for (unsigned i = 0; i < rt->nslots; i++) {
        if (slot_spawn(&rt->slots[i], why, why_len) < 0) {
            runtime_close(rt);
            return -1;
        }
    }
    *ops = &runtime_ops;
    *be = rt;
    return 0;
}
