/*
 * The monitor's configuration file (--config=FILE): `key = value` lines
 * whose keys are the long options, applied below the command line, and
 * re-read on SIGHUP. Named conf.h: config.h is autoconf's.
 */
#ifndef FLUIDMEM_CONF_H
#define FLUIDMEM_CONF_H

#include "settings.h"

struct monitor;
struct conf;

/*
 * Parse the command line into @s, reading --config=FILE first when given
 * (its options go before the command line's, so the command line wins).
 * Returns like settings_parse(): 0 to run, 1 to exit 0, -1 after an error
 * was printed ("monitor: FILE:LINE: ..." for the file). On 0, *@out holds
 * what conf_reload() needs; free it with conf_free().
 */
int conf_parse(struct settings *s, int argc, char **argv, struct conf **out);

/*
 * SIGHUP: re-read the file and apply what can change while running (log
 * level, cache size, headroom, orphan grace); log what needs a restart.
 * Keeps the current settings if the file has an error.
 */
void conf_reload(struct monitor *m, struct conf *c);

/* Log the settings in effect, one line (what the journal should show). */
void conf_log(const struct settings *s);

void conf_free(struct conf *c);

#endif
