/* Leveled logging to stderr, one line per call, safe across threads. */
#include "config.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum log_level log_threshold = LOG_INFO;
static const char *log_prefix = "fluidmem";
static const char *const level_names[] = { "error", "warn", "info", "debug" };
/* syslog priorities of the levels: err, warning, info, debug */
static const int level_prio[] = { 3, 4, 6, 7 };
static int log_journal;

int log_parse_level(const char *s, enum log_level *out)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]);
	     i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *log_level_name(enum log_level lvl)
{
	return level_names[lvl];
}

void log_set_prefix(const char *prefix)
{
	log_prefix = prefix;
}

int log_detect_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	log_journal = env && sscanf(env, "%llu:%llu", &dev, &ino) == 2 &&
		      fstat(STDERR_FILENO, &st) == 0 &&
		      (unsigned long long)st.st_dev == dev &&
		      (unsigned long long)st.st_ino == ino;
	return log_journal;
}

void log_emit(enum log_level lvl, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if (log_journal) {
		/* The journal stamps lines itself and reads the priority. */
		n = snprintf(line, sizeof(line), "<%d>%s[%s]: ",
			     level_prio[lvl], log_prefix, level_names[lvl]);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		n = snprintf(line, sizeof(line),
			     "%02d:%02d:%02d.%03ld %s[%s]: ", tm.tm_hour,
			     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
			     log_prefix, level_names[lvl]);
	}
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line so concurrent threads do not interleave. */
	fwrite(line, 1, n, stderr);
}
