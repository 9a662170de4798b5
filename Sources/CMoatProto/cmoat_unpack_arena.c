#include "CMoatProto.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CMOAT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CMOAT_ASAN 1
#endif
#ifdef CMOAT_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(address, size) ASAN_POISON_MEMORY_REGION(address, size)
#define UNPOISON(address, size) ASAN_UNPOISON_MEMORY_REGION(address, size)
#else
#define POISON(address, size) ((void)(address), (void)(size))
#define UNPOISON(address, size) ((void)(address), (void)(size))
#endif

enum { alignment = 16 };

/// The calling thread's arena. `base` is allocated at the thread's first unpack and freed when the
/// thread exits (`release_thread_block`).
typedef struct {
    ProtobufCAllocator allocator;
    unsigned char *base;
    size_t used;
    /// Allocations that did not fit and came from malloc, not freed yet (0 between unpacks).
    size_t outstanding;
    bool busy;
} arena_state;

static _Thread_local arena_state state;
static pthread_key_t thread_block_key;
static pthread_once_t thread_block_once = PTHREAD_ONCE_INIT;

/// Runs on the exiting thread: its arena is forgotten whole (block, bytes used, busy), so an unpack
/// that thread would still make starts a new one.
static void release_thread_block(void *block) {
    state = (arena_state){0};
    free(block);
}

static void make_thread_block_key(void) { pthread_key_create(&thread_block_key, release_thread_block); }

static bool owns(const arena_state *arena, const void *pointer) {
    const unsigned char *address = pointer;
    return arena->base != NULL && address >= arena->base && address < arena->base + CMOAT_UNPACK_ARENA_CAPACITY;
}

static void *arena_alloc(void *data, size_t size) {
    arena_state *arena = data;
    size_t rounded = (size + alignment - 1) & ~(size_t)(alignment - 1);
    if (rounded >= size && rounded <= CMOAT_UNPACK_ARENA_CAPACITY - arena->used) {
        void *pointer = arena->base + arena->used;
        arena->used += rounded;
        UNPOISON(pointer, size);
        return pointer;
    }
    void *pointer = malloc(size);
    if (pointer != NULL) arena->outstanding++;
    return pointer;
}

static void arena_free(void *data, void *pointer) {
    // What came from the arena goes when it is released; the rest was malloc's.
    arena_state *arena = data;
    if (pointer == NULL || owns(arena, pointer)) return;
    arena->outstanding--;
    free(pointer);
}

ProtobufCAllocator *cmoat_unpack_arena_acquire(void) {
    arena_state *arena = &state;
    if (arena->busy) return NULL;
    if (arena->base == NULL) {
        pthread_once(&thread_block_once, make_thread_block_key);
        arena->base = malloc(CMOAT_UNPACK_ARENA_CAPACITY);
        if (arena->base == NULL || pthread_setspecific(thread_block_key, arena->base) != 0) {
            free(arena->base);
            arena->base = NULL;
            return NULL;
        }
        POISON(arena->base, CMOAT_UNPACK_ARENA_CAPACITY);
        arena->allocator.alloc = arena_alloc;
        arena->allocator.free = arena_free;
        arena->allocator.allocator_data = arena;
    }
    arena->busy = true;
    return &arena->allocator;
}

void cmoat_unpack_arena_release(ProtobufCAllocator *allocator, ProtobufCMessage *message) {
    if (allocator == NULL) {
        if (message != NULL) protobuf_c_message_free_unpacked(message, NULL);
        return;
    }
    arena_state *arena = allocator->allocator_data;
    // Only what came from malloc needs freeing one by one: without it, nothing to walk.
    if (message != NULL && arena->outstanding > 0) protobuf_c_message_free_unpacked(message, allocator);
    POISON(arena->base, arena->used);
    arena->used = 0;
    arena->busy = false;
}

size_t cmoat_unpack_arena_used(void) { return state.used; }

size_t cmoat_unpack_arena_outstanding(void) { return state.outstanding; }

bool cmoat_unpack_arena_owns(const void *pointer) { return owns(&state, pointer); }
