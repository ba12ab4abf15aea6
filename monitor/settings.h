/* The monitor's settings: one struct, defaults, command-line parsing. */
#ifndef FLUIDMEM_SETTINGS_H
#define FLUIDMEM_SETTINGS_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "log.h"

#define FM_DEFAULT_BUSY_POLL 0
#define FM_DEFAULT_PREFETCH 32
#define FM_PREFETCH_MAX 64
#define FM_MAX_CPUS 1024

struct settings {
	uint64_t cache_size;	  /* pages resident at most (20000 = 80 MiB) */
	const char *backend;	  /* "local" unless a locator is given */
	char locator[1024];	  /* libmemcached config string, e.g. --SERVER= */
	char mem_path[1024];	  /* --mem-path tier chain; empty: none */
	int cache_size_set;
	const char *socket_path;  /* registration socket */
	const char *run_dir;	  /* region state files */
	const char *ctl_socket;	  /* UNIX control socket, NULL: none */
	char ctl_socket_buf[256]; /* RUN_DIR/ctl.sock when derived */
	int ctl_tcp;		  /* TCP control endpoint enabled */
	char ctl_host[64];	  /* 127.0.0.1 */
	uint16_t ctl_port;	  /* 5001, FluidMem's */
	const char *local_dir;	  /* local backend's page files */
	const char *group;	  /* group allowed to register and control */
	gid_t gid;
	unsigned fault_threads;	  /* uffd handler threads */
	unsigned evict_batch;	  /* pages per eviction round */
	uint64_t headroom;	  /* free slots kept by background eviction */
	int headroom_set;
	unsigned orphan_grace_s;  /* wait for clients after a restart */
	unsigned max_regions;
	char zookeeper[512];	  /* HOST:PORT[,...]; empty: no cluster */
	unsigned zk_timeout_s;	  /* give up connecting at start after this */
	unsigned zk_gc_grace_s;	  /* orphaned regions' pages kept this long */
	unsigned busy_poll_us;	  /* fault thread spin bound, 0: none */
	uint64_t zcache_bytes;	  /* --compressed-cache, 0: none */
	char fault_cpus[256];	  /* --fault-cpus as given; empty: any CPU */
	uint64_t fault_cpu_mask[FM_MAX_CPUS / 64];
	unsigned prefetch;	  /* max prefetch window (pages), 0: off */
	enum log_level log_level;
	const char *config_file;  /* --config, NULL: none */
	/* Test-only: break eviction on purpose (negative controls). */
	int debug_skip_wp;
	int debug_victim_recent;
};

/*
 * Parse argv into @s (defaults first). Returns 0 to run, 1 when --help or
 * --version printed and the monitor should exit 0, or -1 after printing
 * a clear error (exit status 2).
 */
int settings_parse(struct settings *s, int argc, char **argv);
/*
 * The same, but an error message goes to @err instead of stderr, and with
 * @partial the checks across options are skipped (one config file line).
 */
int settings_parse_msg(struct settings *s, int argc, char **argv, int partial,
		       char *err, size_t errlen);
/* Long option @name: -1 unknown, else no_argument or required_argument. */
int settings_option_arg(const char *name);
void settings_usage(FILE *out);

#endif
