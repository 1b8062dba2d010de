{
  "targets": [
    {
      "target_name": "fsroot",
      "sources": ["fsroot.c", "netlink.c", "spawn.c", "mount-async.c",
        "layer-io.c",
        "commit-copy.c",
        "fs-batch.c",
        "layer-sink.c",
        "tar-extract.c"],
      "cflags": ["-Wall", "-O2"]
    },
    {
      "target_name": "berth-exec",
      "type": "executable",
      "sources": ["exec.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "berth-seccomp-bpf",
      "type": "executable",
      "sources": ["seccomp-bpf.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"],
      "libraries": ["-lseccomp"]
    },
    {
      "target_name": "berth-cli",
      "type": "executable",
      "sources": ["cli-client.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ],
  "conditions": [
    ["target_arch=='x64' or target_arch=='arm64'", {
      "targets": [
        {
          "target_name": "berth-seccomp-init",
          "type": "executable",
          "sources": ["seccomp-init.c"],
          "cflags": ["-Wall", "-Wextra", "-O2", "-ffreestanding", "-fno-builtin", "-fno-stack-protector", "-fno-pie"],
          "ldflags": ["-static", "-nostdlib", "-no-pie", "-s"]
        }
      ]
    }]
  ]
}
