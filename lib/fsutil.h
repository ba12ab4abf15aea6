/* Small file-system helpers shared by the backends. */
#ifndef FLUIDMEM_FSUTIL_H
#define FLUIDMEM_FSUTIL_H

/* mkdir -p: parents 0755, the last component 0700. 0 or -errno. */
int fs_mkdir_p(const char *path);

#endif
