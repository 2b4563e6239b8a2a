/*
 * daemon — assembles and runs Sluice: store, engine, protocol front-ends and
 * the HTTP server on one event loop, and takes them down in order.
 *
 * Start: open the store, replay it into the engine, start the log thread,
 * listen, bring config-declared queues, tables, functions (plugins load,
 * runtime pools spawn), topics and mappings to their declared state, start
 * what recovery left owed (asynchronous invocations, mappings), log "ready"
 * with the time it took.
 * Stop (SIGTERM/SIGINT): stop accepting, answer waiting receives with what
 * they have, let in-flight requests finish and their replies become durable
 * (at most DRAIN_MS), then close the store (its last batch fsynced), flush
 * the log and exit 0.
 * Storage failure (a write, sync or create of the log failed): memory is
 * ahead of the disk and nothing more can be acknowledged. Every reply
 * waiting for durability, and every later one, becomes its front-end's
 * ServiceUnavailable (503); the daemon drains as on SIGTERM and exits 70,
 * so a supervisor restarts it and recovery reads what the disk holds.
 * Faults (SLUICE_FAULTS, tests only): the rules file is loaded at start and
 * again on SIGUSR2 (store/io_fault.h).
 */
#include "daemon/daemon.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "daemon/scrape.h"
#include "daemon/sns_http.h"
#include "daemon/sns_lambda.h"
#include "functions/functions.h"
#include "functions/mappings.h"
#include "gateway/gateway.h"
#include "gateway/proxy.h"
#include "net/http_server.h"
#include "proto/router.h"
#include "proto/sigv4.h"
#include "queues/queues.h"
#include "store/io_fault.h"
#include "store/io_trace.h"
#include "tables/tables.h"
#include "topics/signer.h"
#include "topics/topics.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/trace.h"
#include "util/logging.h"

#define DRAIN_MS 10000
#define CHECKPOINT_POLL_MS 1000

typedef struct daemon {
    const config_t *cfg;
    loop_t *loop;
    store_t *store;
    queues_t *qs;
    topics_t *tp;
    tables_t *ts;
    functions_t *fs;
    signer_t *signer;
    sns_http_t *sns_http;
    sns_lambda_t *sns_lambda;
    sqs_api_t *sqs;
    router_t router;
    gateway_t *gw;
    http_client_t *gw_client; /* the gateway's proxy routes' */
    http_server_t *http;
    loop_io_t sig_io;
    int sig_fd;
    loop_timer_t deadline_timer, checkpoint_timer, drain_timer;
    int stopping;
    int exit_code;
    const char *faults; /* SLUICE_FAULTS: the fault rules file, or NULL */
} daemon_t;

static void begin_shutdown(daemon_t *d, const char *why);

/* ---- engine clockwork ------------------------------------------------------------- */

static void arm_deadline(daemon_t *d, uint64_t wall_ms)
{
    uint64_t now = clock_wall_ms();
    uint64_t delay = wall_ms > now ? wall_ms - now : 0;
    uint64_t due = loop_now_ms(d->loop) + delay;
    if (!loop_timer_active(&d->deadline_timer) || due < d->deadline_timer.node.key)
        loop_timer_at(d->loop, &d->deadline_timer, due);
}

static void on_engine_deadline(void *arg, uint64_t wall_ms)
{
    arm_deadline(arg, wall_ms);
}

static void on_deadline_timer(loop_t *loop, loop_timer_t *t)
{
    (void)loop;
    daemon_t *d = t->arg;
    uint64_t next = queues_tick(d->qs), more[2] = {topics_tick(d->tp), tables_tick(d->ts)};
    for (int i = 0; i < 2; i++)
        if (more[i] && (!next || more[i] < next))
            next = more[i];
    if (next)
        arm_deadline(d, next);
}

/* The store has one apply and one dump: records go to the engine part that
 * owns their type; a snapshot holds queues, topics, tables, then functions. */
static int engine_apply(void *arg, uint8_t type, const void *payload, size_t len)
{
    daemon_t *d = arg;
    if (type >= TOPICS_REC_MIN && type <= TOPICS_REC_MAX)
        return topics_apply(d->tp, type, payload, len);
    if (type >= TABLES_REC_MIN && type <= TABLES_REC_MAX)
        return tables_apply(d->ts, type, payload, len);
    if (type >= FUNCTIONS_REC_MIN && type <= FUNCTIONS_REC_MAX)
        return functions_apply(d->fs, type, payload, len);
    return queues_apply(d->qs, type, payload, len);
}

static int engine_dump(void *arg, store_snap_t *snap)
{
    daemon_t *d = arg;
    if (queues_dump(d->qs, snap) != 0 || topics_dump(d->tp, snap) != 0 || tables_dump(d->ts, snap) != 0)
        return -1;
    return functions_dump(d->fs, snap);
}

static void on_checkpoint_timer(loop_t *loop, loop_timer_t *t)
{
    daemon_t *d = t->arg;
    if (store_compact_due(d->store) && store_checkpoint(d->store, engine_dump, d) != 0)
        log_warn("checkpoint_not_started", "reason=fork_failed");
    loop_timer_start(loop, t, CHECKPOINT_POLL_MS);
}

static void on_durable(void *arg, uint64_t lsn, int failed)
{
    daemon_t *d = arg;
    if (failed) {
        /* Memory is ahead of the disk now; nothing more may be acknowledged. */
        log_emit(LOG_FATAL, "storage_failed", "durable_lsn=%llu action=\"answer 503, drain, exit 70\"",
                 (unsigned long long)lsn);
        http_server_durable(d->http, lsn);
        http_server_fail(d->http, router_fail_reply, &d->router);
        d->exit_code = 70;
        begin_shutdown(d, "storage_failed");
        return;
    }
    http_server_durable(d->http, lsn);
}

/* ---- shutdown ---------------------------------------------------------------------------- */

static void on_drained(void *arg)
{
    daemon_t *d = arg;
    loop_stop(d->loop);
}

static void on_drain_timeout(loop_t *loop, loop_timer_t *t)
{
    (void)t;
    log_warn("shutdown_forced", "reason=\"connections still busy after %d ms\"", DRAIN_MS);
    loop_stop(loop);
}

static void begin_shutdown(daemon_t *d, const char *why)
{
    if (d->stopping)
        return;
    d->stopping = 1;
    log_info("shutdown_begin", "signal=%s", why);
    d->router.draining = 1;
    http_server_shutdown(d->http, on_drained, d);
    queues_wake_all(d->qs); /* long polls answer now */
    gateway_wake_all(d->gw);
    loop_timer_init(&d->drain_timer, on_drain_timeout, d);
    loop_timer_start(d->loop, &d->drain_timer, DRAIN_MS);
}

/* 0, or -1 when the rules file cannot be read or parsed (logged). */
static int load_faults(daemon_t *d)
{
    char why[256];
    int n = io_fault_load(d->faults, why, sizeof why);
    if (n < 0) {
        log_error("faults_not_loaded", "file=%s reason=\"%s\"", d->faults, why);
        return -1;
    }
    log_warn("faults_loaded", "file=%s rules=%d note=\"fault injection is a test facility\"", d->faults, n);
    return 0;
}

static void on_signal(loop_t *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)events;
    daemon_t *d = arg;
    struct signalfd_siginfo si;
    if (read(fd, &si, sizeof si) != (ssize_t)sizeof si)
        return;
    if (si.ssi_signo == SIGUSR2) {
        load_faults(d);
        return;
    }
    begin_shutdown(d, si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
}

static int setup_signals(daemon_t *d)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (d->faults)
        sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    d->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (d->sig_fd < 0)
        return -1;
    return loop_io_start(d->loop, &d->sig_io, d->sig_fd, EPOLLIN, on_signal, d);
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* ---- config-declared queues ------------------------------------------------------------ */

static int declare_one(daemon_t *d, const config_queue_t *cq, int with_redrive)
{
    kv_t kv[64];
    size_t n = 0;
    char arn[320], policy[512];
    err_t err;
    for (size_t i = 0; i < cq->attrs.n && n < 63; i++)
        kv[n++] = (kv_t){cq->attrs.v[i].key, cq->attrs.v[i].val};
    if (with_redrive) {
        snprintf(arn, sizeof arn, "arn:aws:sqs:%s:%s:%s", d->cfg->region, d->cfg->account, cq->dlq);
        snprintf(policy, sizeof policy, "{\"deadLetterTargetArn\":\"%s\",\"maxReceiveCount\":%ld}", arn,
                 cq->max_receive);
        n = 0;
        kv[n++] = (kv_t){"RedrivePolicy", policy};
    }
    queue_t *q = queues_find(d->qs, cq->name);
    kv_t tags[64];
    size_t nt = 0;
    for (size_t i = 0; i < cq->tags.n && nt < 64; i++)
        tags[nt++] = (kv_t){cq->tags.v[i].key, cq->tags.v[i].val};
    status_t st = q ? queue_set_attributes(q, kv, n, &err) : queues_create(d->qs, cq->name, kv, n, tags, nt, &q, &err);
    if (st == ST_OK && q && nt && with_redrive == 0)
        st = queue_tag(q, tags, nt, &err);
    if (st != ST_OK) {
        log_error("config_queue_rejected", "file=%s line=%d queue=%s reason=\"%s\"", d->cfg->config_path,
                  cq->line, cq->name, err.msg);
        return -1;
    }
    return 0;
}

/* Queues first, then redrive policies, so a DLQ exists before it is named. */
static int declare_queues(daemon_t *d)
{
    for (size_t i = 0; i < d->cfg->nqueues; i++)
        if (declare_one(d, &d->cfg->queues[i], 0) != 0)
            return -1;
    for (size_t i = 0; i < d->cfg->nqueues; i++)
        if (d->cfg->queues[i].dlq && declare_one(d, &d->cfg->queues[i], 1) != 0)
            return -1;
    return 0;
}

/* ---- config-declared topics ------------------------------------------------------------ */

static void queue_arn_of(const daemon_t *d, const char *name, char *out, size_t n)
{
    snprintf(out, n, "arn:aws:sqs:%s:%s:%s", d->cfg->region, d->cfg->account, name);
}

static int declare_sub(daemon_t *d, topic_t *t, const config_topic_t *ct, const config_sub_t *cs)
{
    kv_t kv[32];
    size_t n = 0;
    char endpoint[320], dlq[320], redrive[400];
    err_t err;
    for (size_t i = 0; i < cs->attrs.n && n < 30; i++)
        kv[n++] = (kv_t){cs->attrs.v[i].key, cs->attrs.v[i].val};
    if (cs->dlq) {
        queue_arn_of(d, cs->dlq, dlq, sizeof dlq);
        snprintf(redrive, sizeof redrive, "{\"deadLetterTargetArn\":\"%s\"}", dlq);
        kv[n++] = (kv_t){"RedrivePolicy", redrive};
    }
    if (cs->queue)
        queue_arn_of(d, cs->queue, endpoint, sizeof endpoint);
    else if (cs->function)
        snprintf(endpoint, sizeof endpoint, "arn:aws:lambda:%s:%s:function:%s", d->cfg->region, d->cfg->account,
                 cs->function);
    else
        snprintf(endpoint, sizeof endpoint, "%s", cs->endpoint);
    if (topic_declare_sub(t, cs->protocol, endpoint, kv, n, &err) != ST_OK) {
        log_error("config_subscription_rejected", "file=%s line=%d topic=%s reason=\"%s\"", d->cfg->config_path,
                  cs->line, ct->name, err.msg);
        return -1;
    }
    return 0;
}

static int declare_topics(daemon_t *d)
{
    for (size_t i = 0; i < d->cfg->ntopics; i++) {
        const config_topic_t *ct = &d->cfg->topics[i];
        kv_t kv[64], tags[64];
        size_t n = 0, nt = 0;
        err_t err;
        for (size_t k = 0; k < ct->attrs.n && n < 64; k++)
            kv[n++] = (kv_t){ct->attrs.v[k].key, ct->attrs.v[k].val};
        for (size_t k = 0; k < ct->tags.n && nt < 64; k++)
            tags[nt++] = (kv_t){ct->tags.v[k].key, ct->tags.v[k].val};
        char arn[320];
        snprintf(arn, sizeof arn, "arn:aws:sns:%s:%s:%s", d->cfg->region, d->cfg->account, ct->name);
        topic_t *t = topics_find_arn(d->tp, arn);
        status_t st = ST_OK;
        for (size_t k = 0; t && k < n && st == ST_OK; k++)
            if (strcmp(kv[k].key, "FifoTopic") != 0)
                st = topic_set_attribute(t, kv[k].key, kv[k].val, &err);
        if (!t)
            st = topics_create(d->tp, ct->name, kv, n, tags, nt, &t, &err);
        if (st != ST_OK) {
            log_error("config_topic_rejected", "file=%s line=%d topic=%s reason=\"%s\"", d->cfg->config_path,
                      ct->line, ct->name, err.msg);
            return -1;
        }
        for (size_t k = 0; k < ct->nsubs; k++)
            if (declare_sub(d, t, ct, &ct->subs[k]) != 0)
                return -1;
    }
    return 0;
}

/* ---- config-declared tables, functions and mappings ------------------------------------------ */

static int declare_tables(daemon_t *d)
{
    for (size_t i = 0; i < d->cfg->ntables; i++) {
        const config_table_t *ct = &d->cfg->tables[i];
        table_def_t def = {.name = ct->name,
                           .pk = ct->partition_key,
                           .sk = ct->sort_key,
                           .indexes = (const char *const *)ct->indexes.v,
                           .nindexes = ct->indexes.n,
                           .ttl_attr = ct->ttl_attribute};
        table_t *t;
        err_t err;
        if (tables_create(d->ts, &def, &t, &err) != ST_OK) {
            log_error("config_table_rejected", "file=%s line=%d table=%s reason=\"%s\"", d->cfg->config_path,
                      ct->line, ct->name, err.msg);
            return -1;
        }
    }
    return 0;
}

static fn_kind_t kind_of(const char *k)
{
    return !strcmp(k, "process") ? FN_KIND_PROCESS : !strcmp(k, "http") ? FN_KIND_HTTP : FN_KIND_PLUGIN;
}

/* A path in the config file that holds a '/' but does not start with one is
 * relative to the file's directory, wherever the daemon was started from
 * (a bare name is left alone: dlopen and exec search for it). */
static const char *config_relative(const daemon_t *d, const char *p, char *out, size_t n)
{
    const char *file = d->cfg->config_path, *slash = file ? strrchr(file, '/') : NULL;
    if (!p || p[0] == '/' || !strchr(p, '/') || !file)
        return p;
    snprintf(out, n, "%.*s%s", slash ? (int)(slash - file + 1) : 0, file, p);
    return out;
}

static int declare_functions(daemon_t *d)
{
    for (size_t i = 0; i < d->cfg->nfunctions; i++) {
        const config_function_t *cf = &d->cfg->functions[i];
        kv_t env[64];
        size_t ne = 0;
        char handler[2048], command[2048], dir[2048];
        for (size_t k = 0; k < cf->env.n && ne < 64; k++)
            env[ne++] = (kv_t){cf->env.v[k].key, cf->env.v[k].val};
        fn_kind_t kind = kind_of(cf->kind);
        fn_def_t def = {.name = cf->name, .kind = kind,
                        .handler = kind == FN_KIND_PLUGIN ? config_relative(d, cf->handler, handler, sizeof handler)
                                                          : cf->handler,
                        .command = config_relative(d, cf->command, command, sizeof command),
                        .dir = config_relative(d, cf->dir, dir, sizeof dir), .env = env, .nenv = ne,
                        .timeout_ms = (uint32_t)cf->timeout_ms, .concurrency = (uint32_t)cf->concurrency,
                        .memory_mb = (uint32_t)cf->memory_mb, .max_retries = (int)cf->max_retries,
                        .on_success = cf->on_success, .on_failure = cf->on_failure};
        err_t err;
        if (functions_declare(d->fs, &def, NULL, &err) != ST_OK) {
            log_error("config_function_rejected", "file=%s line=%d function=%s reason=\"%s\"", d->cfg->config_path,
                      cf->line, cf->name, err.msg);
            return -1;
        }
    }
    return 0;
}

/* A declared mapping is created, or brought to its declared settings. */
static int declare_mappings(daemon_t *d)
{
    for (size_t i = 0; i < d->cfg->nmappings; i++) {
        const config_mapping_t *cm = &d->cfg->mappings[i];
        esm_def_t def = {.function = cm->function, .queue = cm->queue, .batch_size = (uint32_t)cm->batch_size,
                         .window_s = (uint32_t)cm->batching_window, .max_concurrency = (uint32_t)cm->max_concurrency,
                         .rate = (uint32_t)cm->rate, .report_failures = (int)cm->report_failures,
                         .enabled = (int)cm->enabled, .on_success = cm->on_success, .on_failure = cm->on_failure};
        esm_t *m = esm_find_pair(d->fs, cm->function, cm->queue);
        err_t err;
        status_t st = m ? esm_update(m, &def, &err) : esm_create(d->fs, &def, &m, &err);
        if (st != ST_OK) {
            log_error("config_mapping_rejected", "file=%s line=%d function=%s queue=%s reason=\"%s\"",
                      d->cfg->config_path, cm->line, cm->function, cm->queue, err.msg);
            return -1;
        }
    }
    return 0;
}

/* The gateway's periods are DAY, WEEK, MONTH; a plan's rate may be fractional. */
static int gateway_plan(const config_plan_t *cp, keys_plan_def_t *p, char *why, size_t n)
{
    char *end = NULL;
    *p = (keys_plan_def_t){.name = cp->name, .burst = (uint32_t)cp->burst, .limit = (uint64_t)cp->quota};
    if (cp->rate) {
        p->rate = strtod(cp->rate, &end);
        if (!*cp->rate || *end)
            return snprintf(why, n, "usage plan %s: rate must be a number", cp->name), -1;
    }
    if (cp->period && keys_period_parse(cp->period, &p->period) != 0)
        return snprintf(why, n, "usage plan %s: period must be DAY, WEEK or MONTH", cp->name), -1;
    return 0;
}

/* The route's integration and what it names (topic, queue, table, function). */
static int gateway_route_kind(const config_route_t *cr, gw_route_def_t *r, char *why, size_t n, const char *file)
{
    const char *in = cr->integration ? cr->integration : "";
    if (strcmp(in, "publish") == 0)
        r->kind = GW_PUBLISH, r->target = cr->topic;
    else if (strcmp(in, "enqueue") == 0)
        r->kind = GW_ENQUEUE, r->target = cr->queue;
    else if (strcmp(in, "result") == 0)
        r->kind = GW_RESULT;
    else if (strcmp(in, "item") == 0)
        r->kind = GW_ITEM, r->target = cr->table;
    else if (strcmp(in, "invoke") == 0)
        r->kind = GW_INVOKE, r->target = cr->function;
    else if (strcmp(in, "proxy") == 0)
        r->kind = GW_PROXY, r->upstream = cr->upstream, r->timeout_s = (uint32_t)cr->timeout;
    else
        return snprintf(why, n, "%s:%d: route %s: integration must be publish, enqueue, result, item, invoke or proxy",
                        file, cr->line, cr->path), -1;
    if (strcmp(cr->payload, "body") != 0 && strcmp(cr->payload, "proxy") != 0)
        return snprintf(why, n, "%s:%d: route %s: payload must be body or proxy", file, cr->line, cr->path), -1;
    r->payload = strcmp(cr->payload, "proxy") == 0 ? GW_PAYLOAD_PROXY : GW_PAYLOAD_BODY;
    return 0;
}

static int declare_gateway_tables(daemon_t *d)
{
    err_t err;
    if (!d->cfg->gateway.nroutes || gateway_declare_tables(d->ts, d->cfg->gateway.results_table, &err) == ST_OK)
        return 0;
    log_error("config_gateway_rejected", "file=%s reason=\"%s\"", d->cfg->config_path, err.msg);
    return -1;
}

/* The proxy routes' client: bodies up to API Gateway's payload limit, each
 * request's deadline the route's timeout. */
static http_client_t *gateway_client_new(loop_t *loop)
{
    http_client_config_t cfg;
    http_client_config_defaults(&cfg);
    cfg.max_conns_per_host = 64;
    cfg.max_response_body = PROXY_BODY_MAX;
    cfg.timeout_ms = (uint64_t)PROXY_TIMEOUT_DEFAULT_S * 1000;
    cfg.user_agent = "Sluice-Gateway";
    http_client_t *c = http_client_new(loop, &cfg);
    if (!c)
        log_error("config_gateway_rejected", "reason=\"cannot create the proxy routes' HTTP client\"");
    return c;
}

static int declare_gateway(daemon_t *d)
{
    const config_gateway_t *g = &d->cfg->gateway;
    if (!g->nroutes)
        return 0;
    if (!(d->gw_client = gateway_client_new(d->loop)))
        return -1;
    gw_route_def_t *routes = xcalloc(g->nroutes, sizeof *routes);
    keys_plan_def_t *plans = xcalloc(g->nplans ? g->nplans : 1, sizeof *plans);
    keys_key_def_t *keys = xcalloc(g->nkeys ? g->nkeys : 1, sizeof *keys);
    gw_attr_def_t *attrs = NULL;
    size_t nattrs = 0;
    for (size_t i = 0; i < g->nroutes; i++)
        nattrs += g->routes[i].attributes.n;
    attrs = xcalloc(nattrs ? nattrs : 1, sizeof *attrs);
    char why[1100] = "";
    int rc = 0;
    for (size_t i = 0, a = 0; i < g->nroutes && !rc; i++) {
        const config_route_t *cr = &g->routes[i];
        gw_route_def_t *r = &routes[i];
        *r = (gw_route_def_t){.method = cr->method, .path = cr->path, .id_from = cr->id_from, .schema = cr->schema,
                              .sla_s = (uint32_t)cr->sla, .api_key = (int)cr->api_key, .attrs = &attrs[a],
                              .nattrs = cr->attributes.n, .key_from = cr->key, .index = cr->index,
                              .fields = (const char *const *)cr->fields.v, .nfields = cr->fields.n};
        for (size_t k = 0; k < cr->attributes.n; k++, a++)
            attrs[a] = (gw_attr_def_t){cr->attributes.v[k].key, cr->attributes.v[k].val};
        rc = gateway_route_kind(cr, r, why, sizeof why, d->cfg->config_path);
    }
    for (size_t i = 0; i < g->nplans && !rc; i++)
        rc = gateway_plan(&g->plans[i], &plans[i], why, sizeof why);
    char(*unnamed)[32] = xcalloc(g->nkeys ? g->nkeys : 1, sizeof *unnamed); /* "key-3" for a key without a name */
    for (size_t i = 0; i < g->nkeys; i++)
        snprintf(unnamed[i], sizeof unnamed[i], "key-%zu", i + 1);
    for (size_t i = 0; i < g->nkeys; i++)
        keys[i] = (keys_key_def_t){.name = g->keys[i].name ? g->keys[i].name : unnamed[i],
                                   .hash = g->keys[i].hash, .plan = g->keys[i].plan,
                                   .disabled = !g->keys[i].enabled};
    err_t err;
    gateway_config_t gc = {.region = d->cfg->region, .account = d->cfg->account,
                           .results_table = g->results_table, .results_ttl_s = (uint32_t)g->results_ttl,
                           .routes = routes, .nroutes = g->nroutes, .plans = plans, .nplans = g->nplans,
                           .keys = keys, .nkeys = g->nkeys, .client = d->gw_client};
    if (!rc && !(d->gw = gateway_new(&gc, d->loop, d->qs, d->tp, d->ts, d->fs, &err))) {
        snprintf(why, sizeof why, "%s", err.msg);
        rc = -1;
    }
    if (rc)
        log_error("config_gateway_rejected", "file=%s reason=\"%s\"", d->cfg->config_path, why);
    else /* every worker's outcome of a gateway request reaches its record */
        functions_track_requests(d->fs, g->results_table ? g->results_table : GATEWAY_RESULTS_DEFAULT);
    d->router.gateway = d->gw;
    free(routes);
    free(plans);
    free(keys);
    free(unnamed);
    free(attrs);
    return rc;
}

/* ---- assembly -------------------------------------------------------------------------------- */

/* The engine is built on the opened store (its appends are off while it
 * replays), then the store's thread starts. */
static int open_engine(daemon_t *d)
{
    char why[512];
    store_config_t sc = {.dir = d->cfg->data_dir,
                         .fsync = d->cfg->fsync,
                         .fsync_interval_ms = (uint64_t)d->cfg->fsync_interval_ms,
                         .sync_gap_us = (uint64_t)d->cfg->sync_gap_us,
                         .segment_bytes = (uint64_t)d->cfg->segment_mb << 20,
                         .compact_bytes = (uint64_t)d->cfg->compact_mb << 20};
    queues_config_t qc = {.region = d->cfg->region,
                          .account = d->cfg->account,
                          .max_inflight = (uint64_t)d->cfg->inflight_per_queue,
                          .max_queue_bytes = (uint64_t)d->cfg->queue_bytes,
                          .max_total_bytes = (uint64_t)d->cfg->total_queue_bytes};
    uint64_t t0 = clock_mono_ms();
    if (store_open(&sc, d->loop, &d->store, why, sizeof why) != 0) {
        log_error("store_open_failed", "dir=%s reason=\"%s\"", d->cfg->data_dir, why);
        return -1;
    }
    d->qs = queues_new(&qc, d->store);
    topics_config_t tc = {.region = d->cfg->region, .account = d->cfg->account};
    d->tp = topics_new(&tc, d->store, d->qs);
    d->sns_http = sns_http_new(d->loop, d->tp);
    d->ts = tables_new(d->store);
    functions_config_t fc = {.region = d->cfg->region,
                             .account = d->cfg->account,
                             .plugin_threads = (unsigned)d->cfg->plugin_threads};
    d->fs = functions_new(&fc, d->loop, d->store, d->qs, d->tp, d->ts);
    d->sns_lambda = sns_lambda_new(d->tp, d->fs);
    if (d->cfg->sns_signing) {
        if (!(d->signer = signer_open(d->cfg->data_dir, why, sizeof why))) {
            log_error("sns_signing_failed", "dir=%s reason=\"%s\"", d->cfg->data_dir, why);
            return -1;
        }
        topics_set_signer(d->tp, d->signer);
    }
    if (store_recover(d->store, engine_apply, d, why, sizeof why) != 0 ||
        store_start(d->store, on_durable, d, why, sizeof why) != 0) {
        log_error("store_recovery_failed", "dir=%s reason=\"%s\"", d->cfg->data_dir, why);
        return -1;
    }
    queues_stats_t qst;
    topics_stats_t tst;
    queues_get_stats(d->qs, &qst);
    topics_get_stats(d->tp, &tst);
    log_info("recovered",
             "dir=%s queues=%llu messages=%llu bytes=%llu topics=%llu subscriptions=%llu outbox=%llu ms=%llu",
             d->cfg->data_dir, (unsigned long long)qst.queues, (unsigned long long)qst.messages,
             (unsigned long long)qst.bytes,
             (unsigned long long)tst.topics, (unsigned long long)tst.subs, (unsigned long long)tst.outbox,
             (unsigned long long)(clock_mono_ms() - t0));
    return 0;
}

/* auth.mode: the verifier the router checks AWS-protocol requests with, or
 * none — said once in the log either way. */
static int start_auth(daemon_t *d)
{
    const config_auth_t *a = &d->cfg->auth;
    if (a->ops_token_env && *a->ops_token_env) {
        const char *t = getenv(a->ops_token_env);
        size_t n = t ? strlen(t) : 0;
        int printable = n > 0;
        for (size_t i = 0; i < n && printable; i++)
            printable = t[i] > 0x20 && t[i] < 0x7f; /* what a bearer token can be, sent in a header */
        if (!t) {
            log_error("config_auth_rejected", "reason=\"auth.ops_token_env: environment variable %s is not set\"",
                      a->ops_token_env);
            return -1;
        }
        if (!printable || n < 16 || n > 512) {
            log_error("config_auth_rejected", "reason=\"auth.ops_token_env: %s must hold 16..512 printable "
                      "characters without spaces\"", a->ops_token_env);
            return -1;
        }
        d->router.ops_token = xstrdup(t);
        log_info("ops_token", "variable=%s reason=\"GET /metrics and /_sluice/trace need Authorization: Bearer\"",
                 a->ops_token_env);
    }
    if (a->mode == CONFIG_AUTH_OPEN) {
        log_warn("auth_open", "mode=open reason=\"AWS-protocol requests are not authenticated; set auth.mode: sigv4 "
                 "to verify their signatures\"");
        return 0;
    }
    sigv4_key_def_t *keys = xcalloc(a->nkeys ? a->nkeys : 1, sizeof *keys);
    for (size_t i = 0; i < a->nkeys; i++)
        keys[i] = (sigv4_key_def_t){a->keys[i].id, a->keys[i].secret, a->keys[i].session_token};
    sigv4_config_t sc = {.keys = keys, .nkeys = a->nkeys, .clock_skew_s = (uint32_t)a->clock_skew_s,
                         .check_session_token = a->session_token == CONFIG_TOKEN_CHECK};
    char why[256];
    d->router.auth = sigv4_new(&sc, why, sizeof why);
    free(keys);
    if (!d->router.auth) {
        log_error("config_auth_rejected", "file=%s reason=\"%s\"", d->cfg->config_path, why);
        return -1;
    }
    log_info("auth_sigv4", "mode=sigv4 keys=%zu clock_skew_s=%ld session_token=%s", a->nkeys, a->clock_skew_s,
             a->session_token == CONFIG_TOKEN_CHECK ? "check" : "ignore");
    return 0;
}

/* The HTTP layer is about to refuse a request for load: durability the
 * log thread reached since the loop last heard releases replies first. */
static void poll_durable(void *arg)
{
    store_poll(((daemon_t *)arg)->store);
}

static void write_metrics(void *arg, buf_t *out)
{
    daemon_t *d = arg;
    scrape_src_t src = {.qs = d->qs, .tp = d->tp, .ts = d->ts, .fs = d->fs, .gw = d->gw, .store = d->store,
                        .sqs = d->sqs, .http = d->http, .router = &d->router};
    scrape_write(&src, out);
}

static int start_http(daemon_t *d)
{
    char why[512], host[300];
    http_server_config_t hc;
    http_server_config_defaults(&hc);
    hc.host = d->cfg->host;
    hc.port = (int)d->cfg->port;
    hc.max_connections = (unsigned)d->cfg->max_connections;
    hc.max_per_client = (unsigned)d->cfg->max_connections_per_client;
    hc.max_pending = (unsigned)d->cfg->max_pending_requests;
    hc.poll_durable = poll_durable;
    hc.poll_arg = d;
    hc.limits.max_body = (size_t)d->cfg->max_body_bytes;
    hc.idle_timeout_ms = (uint64_t)d->cfg->idle_timeout_ms;
    hc.request_timeout_ms = (uint64_t)d->cfg->request_timeout_ms;
    snprintf(host, sizeof host, "%s:%ld", d->cfg->host, d->cfg->port);
    d->sqs = sqs_api_new(d->qs, d->loop, host);
    d->router.sqs = d->sqs;
    d->router.topics = d->tp;
    d->router.functions = d->fs;
    d->router.tables = d->ts;
    if (d->signer)
        d->router.sns_cert = signer_cert_pem(d->signer, &d->router.sns_cert_len);
    d->router.store = d->store;
    d->router.metrics = write_metrics;
    d->router.metrics_arg = d;
    d->http = http_server_new(d->loop, &hc, router_handle, &d->router, why, sizeof why);
    if (!d->http) {
        log_error("listen_failed", "reason=\"%s\"", why);
        return -1;
    }
    char base[400];
    if (d->cfg->public_url && *d->cfg->public_url)
        snprintf(base, sizeof base, "%s", d->cfg->public_url);
    else
        snprintf(base, sizeof base, "http://%s:%d", d->cfg->host, http_server_port(d->http));
    topics_set_base_url(d->tp, base);
    /* what recovery read is durable: replies about it need not wait */
    http_server_durable(d->http, store_durable_lsn(d->store));
    return 0;
}

static void start_clockwork(daemon_t *d)
{
    loop_timer_init(&d->deadline_timer, on_deadline_timer, d);
    loop_timer_init(&d->checkpoint_timer, on_checkpoint_timer, d);
    queues_set_deadline_cb(d->qs, on_engine_deadline, d);
    topics_set_deadline_cb(d->tp, on_engine_deadline, d);
    tables_set_deadline_cb(d->ts, on_engine_deadline, d);
    loop_timer_start(d->loop, &d->deadline_timer, 0);
    loop_timer_start(d->loop, &d->checkpoint_timer, CHECKPOINT_POLL_MS);
}

/* SLUICE_SYNC_TRACE, a test facility (tests/crash/crashloop.py --power-loss):
 * the store's syncs, renames and writes after a sync are recorded in that
 * file, so a test can rewrite the directory as a power loss would leave it. */
static int start_sync_trace(void)
{
    const char *path = getenv("SLUICE_SYNC_TRACE");
    if (!path || !*path)
        return 0;
    int rc = io_trace_install(path);
    if (rc < 0) {
        log_error("sync_trace_failed", "path=%s error=\"%s\"", path, strerror(-rc));
        return -1;
    }
    log_warn("sync_trace", "path=%s reason=\"SLUICE_SYNC_TRACE is set: the store's syncs are recorded, a test "
             "facility\"", path);
    return 0;
}

static int assemble(daemon_t *d)
{
    d->loop = loop_new();
    if (!d->loop || setup_signals(d) != 0) {
        log_error("start_failed", "reason=\"cannot create the event loop or signal handling\"");
        return -1;
    }
    if (start_sync_trace() != 0)
        return -1;
    /* The listener binds before functions spawn runtimes, whose own loopback
     * listeners take ephemeral ports (the configured port may be one). No
     * request is served before loop_run, when the declarations are done. */
    if (open_engine(d) != 0 || start_auth(d) != 0 || start_http(d) != 0 || declare_queues(d) != 0 || declare_tables(d) != 0 ||
        declare_gateway_tables(d) != 0 ||
        declare_functions(d) != 0 || declare_topics(d) != 0 || declare_mappings(d) != 0 || declare_gateway(d) != 0)
        return -1;
    functions_start(d->fs);
    start_clockwork(d);
    return 0;
}

static void teardown(daemon_t *d)
{
    if (d->http)
        http_server_free(d->http); /* long polls of the gateway are dropped here */
    router_release(&d->router);
    gateway_free(d->gw);
    sigv4_free(d->router.auth);
    free(d->router.ops_token);
    http_client_free(d->gw_client); /* after the server: aborted exchanges cancelled their requests */
    if (d->store && store_close(d->store) != 0 && !d->exit_code) /* hands over the last batch and fsyncs it */
        d->exit_code = 70; /* that last sync failed: what was acknowledged under interval/off may be lost */
    sqs_api_free(d->sqs);
    functions_free(d->fs); /* runtimes killed; mappings leave their queues' waiter lists */
    sns_lambda_free(d->sns_lambda);
    sns_http_free(d->sns_http);
    topics_free(d->tp);
    tables_free(d->ts);
    signer_free(d->signer);
    queues_free(d->qs);
    if (d->sig_fd >= 0)
        close(d->sig_fd);
    loop_free(d->loop);
}

int daemon_run(const config_t *cfg)
{
    daemon_t d = {.cfg = cfg, .sig_fd = -1, .faults = getenv("SLUICE_FAULTS")};
    uint64_t t0 = clock_mono_ns();
    log_set_level(cfg->log_level);
    raise_fd_limit();
    if ((d.faults && load_faults(&d) != 0) || assemble(&d) != 0) {
        teardown(&d);
        io_fault_clear();
        log_flush();
        return 1;
    }
    trace_init((size_t)cfg->trace_entries); /* after recovery: replayed records are not hops */
    trace_set_untraced(cfg->trace_messages == 0);
    log_info("ready", "host=%s port=%d data=%s fsync=%s pid=%d start_ms=%.2f", cfg->host, http_server_port(d.http),
             cfg->data_dir, fsync_policy_name(cfg->fsync), (int)getpid(), (double)(clock_mono_ns() - t0) / 1e6);
    int rc = loop_run(d.loop);
    teardown(&d);
    trace_shutdown();
    io_fault_clear();
    rc = d.exit_code ? d.exit_code : rc == 0 ? 0 : 1;
    log_info("stopped", "status=%d", rc);
    log_flush();
    return rc;
}
