/* CRC32C (Castagnoli) of a buffer: SSE4.2 when the CPU has it. */
#ifndef FLUIDMEM_CRC32C_H
#define FLUIDMEM_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif
