/*
 * The few system calls berthd's filesystem helper needs that Node lacks:
 * chroot(2) (the helper confines itself to a container's root before it
 * touches any container path), openat2(2) with RESOLVE_IN_ROOT (mount points
 * resolved by the kernel inside a root), bind mount(2), overlay mount and
 * umount2(2) for the storage driver (no mount/umount program per container), the parent-death
 * signal, and xattrs read without following links. Errors are thrown as
 * Error objects with `code` set to the errno name (as Node's fs does).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <node_api.h>

#define MAX_ARG 4096

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[MAX_ARG + 64];
  const char *code = strerrorname_np(err);
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value m, c, e;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, code ? code : "EIO", NAPI_AUTO_LENGTH, &c);
  napi_create_error(env, c, m, &e);
  napi_set_named_property(env, e, "code", c);
  napi_throw(env, e);
  return NULL;
}

static int get_str(napi_env env, napi_value v, char *buf) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, buf, MAX_ARG, &n) != napi_ok || n >= MAX_ARG - 1) {
    napi_throw_type_error(env, NULL, "expected a path string");
    return -1;
  }
  return 0;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < want) {
    napi_throw_type_error(env, NULL, "missing arguments");
    return -1;
  }
  return 0;
}

/* chroot(path) then chdir("/"): nothing outside `path` is reachable by name afterwards. */
static napi_value js_chroot(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char p[MAX_ARG];
  if (get_args(env, info, 1, argv) || get_str(env, argv[0], p)) return NULL;
  if (chroot(p) != 0) return throw_errno(env, "chroot", errno);
  if (chdir("/") != 0) return throw_errno(env, "chdir", errno);
  return NULL;
}

/* The helper dies with berthd: a killed daemon never leaves one working. */
static napi_value js_pdeathsig(napi_env env, napi_callback_info info) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return throw_errno(env, "prctl", errno);
  return NULL;
}

/* openat2(rootfd, path, flags, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS): the kernel resolves every component inside root. */
static napi_value js_open_in_root(napi_env env, napi_callback_info info) {
  napi_value argv[3], out;
  char p[MAX_ARG];
  int32_t rootfd, flags;
  if (get_args(env, info, 3, argv) || get_str(env, argv[1], p)) return NULL;
  napi_get_value_int32(env, argv[0], &rootfd);
  napi_get_value_int32(env, argv[2], &flags);
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (unsigned long long)(unsigned int)flags | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd = syscall(SYS_openat2, rootfd, p, &how, sizeof how);
  if (fd < 0) return throw_errno(env, p, errno);
  napi_create_int32(env, (int32_t)fd, &out);
  return out;
}

/* mount(source, target, NULL, MS_BIND|MS_REC). */
static napi_value js_bind(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char src[MAX_ARG], dst[MAX_ARG];
  if (get_args(env, info, 2, argv) || get_str(env, argv[0], src) || get_str(env, argv[1], dst)) return NULL;
  if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) != 0) return throw_errno(env, "bind mount", errno);
  return NULL;
}

/* Read-only remount of the bind mount at `target`. */
static napi_value js_remount_ro(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char dst[MAX_ARG];
  if (get_args(env, info, 1, argv) || get_str(env, argv[0], dst)) return NULL;
  if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) != 0) return throw_errno(env, "remount", errno);
  return NULL;
}

/* mount -t overlay overlay -o `options` `target` (options under one page). */
static napi_value js_mount_overlay(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char opts[MAX_ARG], dst[MAX_ARG];
  if (get_args(env, info, 2, argv) || get_str(env, argv[0], opts) || get_str(env, argv[1], dst)) return NULL;
  if (mount("overlay", dst, "overlay", 0, opts) != 0) return throw_errno(env, "mount overlay", errno);
  return NULL;
}

/* umount2(target, detach ? MNT_DETACH : 0). */
static napi_value js_umount(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char dst[MAX_ARG];
  bool detach = false;
  if (get_args(env, info, 2, argv) || get_str(env, argv[0], dst)) return NULL;
  napi_get_value_bool(env, argv[1], &detach);
  if (umount2(dst, detach ? MNT_DETACH : 0) != 0) return throw_errno(env, "umount", errno);
  return NULL;
}

/* The extended attributes of `path` itself (a link is not followed): [[name, Buffer], ...]. */
static napi_value js_lxattrs(napi_env env, napi_callback_info info) {
  napi_value argv[1], arr;
  char p[MAX_ARG];
  if (get_args(env, info, 1, argv) || get_str(env, argv[0], p)) return NULL;
  napi_create_array(env, &arr);
  ssize_t n = llistxattr(p, NULL, 0);
  if (n < 0) {
    if (errno == ENOTSUP || errno == ENODATA) return arr;
    return throw_errno(env, p, errno);
  }
  if (n == 0) return arr;
  char *names = malloc((size_t)n + 1);
  if (!names) return throw_errno(env, "llistxattr", ENOMEM);
  n = llistxattr(p, names, (size_t)n);
  if (n < 0) {
    int e = errno;
    free(names);
    if (e == ERANGE) return arr; /* changed meanwhile: report none rather than a torn list */
    return throw_errno(env, p, e);
  }
  uint32_t idx = 0;
  for (char *k = names; k < names + n; k += strlen(k) + 1) {
    ssize_t vn = lgetxattr(p, k, NULL, 0);
    if (vn < 0) continue;
    void *val = malloc(vn > 0 ? (size_t)vn : 1);
    if (!val) continue;
    vn = lgetxattr(p, k, val, (size_t)vn);
    if (vn >= 0) {
      napi_value pair, name, buf;
      void *data;
      napi_create_array_with_length(env, 2, &pair);
      napi_create_string_utf8(env, k, NAPI_AUTO_LENGTH, &name);
      napi_create_buffer_copy(env, (size_t)vn, val, &data, &buf);
      napi_set_element(env, pair, 0, name);
      napi_set_element(env, pair, 1, buf);
      napi_set_element(env, arr, idx++, pair);
    }
    free(val);
  }
  free(names);
  return arr;
}

void netlink_register(napi_env env, napi_value exports);
void spawn_register(napi_env env, napi_value exports);
void mount_async_register(napi_env env, napi_value exports);
void layer_io_register(napi_env env, napi_value exports);
void commit_copy_register(napi_env env, napi_value exports);
void fs_batch_register(napi_env env, napi_value exports);
void layer_sink_register(napi_env env, napi_value exports);
/* tar-extract.c: a layer tar extracted on the pool */
void tar_extract_register(napi_env env, napi_value exports);

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"chroot", NULL, js_chroot, NULL, NULL, NULL, napi_default, NULL},
    {"pdeathsig", NULL, js_pdeathsig, NULL, NULL, NULL, napi_default, NULL},
    {"openInRoot", NULL, js_open_in_root, NULL, NULL, NULL, napi_default, NULL},
    {"bind", NULL, js_bind, NULL, NULL, NULL, napi_default, NULL},
    {"remountReadonly", NULL, js_remount_ro, NULL, NULL, NULL, napi_default, NULL},
    {"lxattrs", NULL, js_lxattrs, NULL, NULL, NULL, napi_default, NULL},
    {"mountOverlay", NULL, js_mount_overlay, NULL, NULL, NULL, napi_default, NULL},
    {"umount", NULL, js_umount, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  netlink_register(env, exports);
  spawn_register(env, exports);
  mount_async_register(env, exports);
  layer_io_register(env, exports);
  commit_copy_register(env, exports);
  fs_batch_register(env, exports);
  layer_sink_register(env, exports);
  tar_extract_register(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
