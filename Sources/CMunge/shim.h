// libmunge (libmunge-dev; scripts/setup.sh installs it): credentials minted and checked by the
// host's munged, as Slurm authenticates its users.
#include <munge.h>

// munge_ctx_set is variadic, which Swift cannot call: one wrapper per option used.
static inline munge_err_t heterosched_munge_set_socket(munge_ctx_t ctx, const char *path) {
    return munge_ctx_set(ctx, MUNGE_OPT_SOCKET, path);
}
