/*
 * The slot pool: nslots pages of donated DRAM, each owned by one client
 * identity. Slots are handed out by the server only; a full pool says so
 * (fewer slots than asked) and never takes back a slot in use. A client's
 * slots outlive its connections for the grace period, so a restarted
 * monitor finds its pages again.
 */
#include "config.h"
#include "memserver.h"
#include "crc32c.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int pool_init(struct pool *p, uint64_t bytes)
{
	uint64_t n = bytes / MP_PAGE_SIZE;

	memset(p, 0, sizeof(*p));
	if (n == 0 || n >= MP_SLOT_NONE)
		return -EINVAL;
	p->nslots = (uint32_t)n;
	p->mem_len = (size_t)n * MP_PAGE_SIZE;
	p->mem = mmap(NULL, p->mem_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p->mem == MAP_FAILED)
		return -errno;
	p->crc = calloc(n, sizeof(*p->crc));
	p->owner = calloc(n, sizeof(*p->owner));
	p->written = calloc(n, 1);
	p->freelist = malloc(n * sizeof(*p->freelist));
	if (!p->crc || !p->owner || !p->written || !p->freelist) {
		pool_destroy(p);
		return -ENOMEM;
	}
	/* Low slots first: pop from the end. */
	for (uint32_t i = 0; i < p->nslots; i++)
		p->freelist[i] = p->nslots - 1 - i;
	p->nfree = p->nslots;
	pthread_mutex_init(&p->lock, NULL);
	return 0;
}

void pool_destroy(struct pool *p)
{
	if (p->mem && p->mem != MAP_FAILED)
		munmap(p->mem, p->mem_len);
	free(p->crc);
	free(p->owner);
	free(p->written);
	free(p->freelist);
	p->mem = NULL;
	p->crc = NULL;
	p->owner = NULL;
	p->written = NULL;
	p->freelist = NULL;
}

static void release_slot(struct pool *p, uint32_t slot);

static uint32_t client_release_all(struct pool *p, int client)
{
	struct srv_client *c = &p->clients[client];
	uint32_t freed = 0;

	for (uint32_t s = 0; s < p->nslots && c->owned; s++) {
		if (p->owner[s] == client + 1) {
			release_slot(p, s);
			c->owned--;
			freed++;
		}
	}
	return freed;
}

int pool_client_attach(struct pool *p, const char *id, int reset,
		       uint32_t *owned, uint32_t *freed)
{
	int ret = -EBUSY, empty = -1;

	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < SRV_MAX_CLIENTS; i++) {
		struct srv_client *c = &p->clients[i];
		if (!c->used) {
			if (empty < 0)
				empty = i;
			continue;
		}
		if (strncmp(c->id, id, MP_ID_LEN) == 0) {
			ret = i;
			break;
		}
	}
	if (ret < 0 && empty >= 0) {
		ret = empty;
		memset(&p->clients[ret], 0, sizeof(p->clients[ret]));
		memcpy(p->clients[ret].id, id, MP_ID_LEN);
		p->clients[ret].used = 1;
		p->nclients++;
	}
	*freed = 0;
	if (ret >= 0 && reset) {
		if (p->clients[ret].nconns) {
			pthread_mutex_unlock(&p->lock);
			return -EAGAIN;
		}
		*freed = client_release_all(p, ret);
	}
	if (ret >= 0) {
		p->clients[ret].nconns++;
		*owned = p->clients[ret].owned;
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

static void release_slot(struct pool *p, uint32_t slot)
{
	p->owner[slot] = 0;
	p->written[slot] = 0;
	p->freelist[p->nfree++] = slot;
}

static void client_forget(struct pool *p, int client)
{
	memset(&p->clients[client], 0, sizeof(p->clients[client]));
	p->nclients--;
}

void pool_client_detach(struct pool *p, int client)
{
	pthread_mutex_lock(&p->lock);
	struct srv_client *c = &p->clients[client];
	if (--c->nconns == 0) {
		c->gone_at = time(NULL);
		if (c->owned == 0)
			client_forget(p, client);
	}
	pthread_mutex_unlock(&p->lock);
}

uint64_t pool_expire(struct pool *p, time_t now, unsigned grace)
{
	uint64_t freed = 0;

	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < SRV_MAX_CLIENTS; i++) {
		struct srv_client *c = &p->clients[i];
		if (!c->used || c->nconns || now - c->gone_at < (time_t)grace)
			continue;
		freed += client_release_all(p, i);
		client_forget(p, i);
	}
	pthread_mutex_unlock(&p->lock);
	return freed;
}

unsigned pool_alloc(struct pool *p, int client, uint32_t *out, unsigned n)
{
	unsigned k = 0;

	pthread_mutex_lock(&p->lock);
	while (k < n && p->nfree) {
		uint32_t s = p->freelist[--p->nfree];
		p->owner[s] = (uint16_t)(client + 1);
		p->written[s] = 0;
		/* A fresh slot never shows the previous owner's page, and
		 * fails its checksum until written (RDMA reads it blind). */
		memset(p->mem + (size_t)s * MP_PAGE_SIZE, 0, MP_PAGE_SIZE);
		p->crc[s] = ~crc32c(0, p->mem + (size_t)s * MP_PAGE_SIZE,
				    MP_PAGE_SIZE);
		out[k++] = s;
	}
	p->clients[client].owned += k;
	pthread_mutex_unlock(&p->lock);
	return k;
}

/* Every slot must be valid and ours, or nothing is freed. */
int pool_free(struct pool *p, int client, const uint32_t *slots, unsigned n)
{
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	for (unsigned i = 0; i < n && !ret; i++) {
		if (slots[i] >= p->nslots)
			ret = -ERANGE;
		else if (p->owner[slots[i]] != client + 1)
			ret = -EPERM;
		for (unsigned j = 0; j < i && !ret; j++)
			if (slots[j] == slots[i])
				ret = -EINVAL;
	}
	for (unsigned i = 0; i < n && !ret; i++) {
		release_slot(p, slots[i]);
		p->clients[client].owned--;
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

static int slot_check(struct pool *p, int client, uint32_t slot)
{
	if (slot >= p->nslots)
		return -ERANGE;
	if (p->owner[slot] != client + 1)
		return -EPERM;
	return 0;
}

/* The page is complete (staged by the transport) before it lands. */
int pool_write(struct pool *p, int client, uint32_t slot, uint32_t crc,
	       const void *page)
{
	int ret;

	if (crc32c(0, page, MP_PAGE_SIZE) != crc)
		return -EBADMSG;
	pthread_mutex_lock(&p->lock);
	ret = slot_check(p, client, slot);
	if (!ret) {
		memcpy(p->mem + (size_t)slot * MP_PAGE_SIZE, page,
		       MP_PAGE_SIZE);
		p->crc[slot] = crc;
		p->written[slot] = 1;
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int pool_read(struct pool *p, int client, uint32_t slot, uint32_t *crc,
	      void *page)
{
	int ret;

	pthread_mutex_lock(&p->lock);
	ret = slot_check(p, client, slot);
	if (!ret && !p->written[slot])
		ret = -ENOENT;
	if (!ret) {
		memcpy(page, p->mem + (size_t)slot * MP_PAGE_SIZE,
		       MP_PAGE_SIZE);
		*crc = p->crc[slot];
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

void pool_usage(struct pool *p, uint32_t *used, unsigned *clients,
		unsigned *connected)
{
	unsigned conn = 0;

	pthread_mutex_lock(&p->lock);
	*used = p->nslots - p->nfree;
	*clients = p->nclients;
	for (int i = 0; i < SRV_MAX_CLIENTS; i++)
		if (p->clients[i].used && p->clients[i].nconns)
			conn++;
	*connected = conn;
	pthread_mutex_unlock(&p->lock);
}
