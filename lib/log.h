/* Leveled logging to stderr; filtered levels cost one comparison. */
#ifndef FLUIDMEM_LOG_H
#define FLUIDMEM_LOG_H

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern enum log_level log_threshold;

int log_parse_level(const char *s, enum log_level *out);
const char *log_level_name(enum log_level lvl);
void log_set_prefix(const char *prefix);
/*
 * If stderr is the systemd journal ($JOURNAL_STREAM names it), write
 * "<N>" syslog priorities instead of timestamps. Returns 1 if so.
 */
int log_detect_journal(void);
void log_emit(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_at(lvl, ...)                                                       \
	do {                                                                   \
		if ((lvl) <= log_threshold)                                    \
			log_emit((lvl), __VA_ARGS__);                          \
	} while (0)
#define log_err(...) log_at(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)

#endif
