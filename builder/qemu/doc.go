// Package qemu is the qemu source: it boots a VM with qemu-system-* from a
// base disk (disk_image = true) or an ISO, lets the provisioners in over
// SSH, shuts the VM down and, once qemu has exited, converts its disk with
// qemu-img into output_directory/vm_name. Options and their names are
// Packer's (Config); New and NewBuilder make the builder.
//
// # Steps
//
// Each step records what it made in the build's state, and its cleanup
// removes it, on success, failure and cancel alike:
//
//   - prepare output directory: refused when it exists, unless -force
//     (which replaces it); removed when the build fails, unless
//     -on-error=abort.
//   - create temporary directory: bake-qemu-<run id>-*, holding the CD
//     image, the guest's serial console log and qemu's QMP socket.
//   - find base disk: a local path or file:// URL is used in place; an
//     http(s) URL is downloaded (to iso_target_path, or a temporary file)
//     and checked against iso_checksum as it arrives. The base is hashed
//     once (sha256, plus iso_checksum's type) and checked to be a disk
//     image qemu-img reads; with iso_checksum = "none" the sha256 is only
//     recorded, so it is taken in the background while the guest boots.
//   - create disk: a working disk beside the output, named with the run
//     id: a qcow2 overlay on the base (use_backing_file, and whenever the
//     output is converted from the working disk, so the base is not
//     copied for nothing), or a copy in the output format (a reflink
//     where the file system can) when the working disk becomes the
//     output (skip_compaction) or qemu_img_args create/convert are given;
//     the base is never written. disk_size grows it (qemu-img resize);
//     bake refuses to shrink it.
//   - compress the base in the background: with disk_compression on an
//     overlay, a qemu-img convert -c of the base into the output
//     directory (.VM.RUN.part) at nice 19 while the guest boots and is
//     provisioned (precompress.go).
//   - prepare SSH key: ssh_private_key_file, or a temporary ed25519 key
//     when the template gives no key, password or agent.
//   - create CD: cd_files and cd_content on an ISO 9660 image labelled
//     cd_label (default "cidata", a cloud-init NoCloud seed), written with
//     xorriso, genisoimage or mkisofs. With a temporary key, bake adds a
//     user-data that installs it for ssh_username (and a meta-data), unless
//     the template brings its own user-data.
//   - start HTTP server: http_directory or http_content on a port of
//     http_port_min..http_port_max; the guest reaches it at
//     {{ .HTTPIP }}:{{ .HTTPPort }} (10.0.2.2 on qemu's user network).
//   - start qemu: the accelerator, a host port for SSH, then qemu with its
//     own process group and -serial file: and -qmp unix: sockets; bake
//     waits for the monitor to answer, and an early exit fails the step
//     with qemu's stderr.
//   - wait for SSH: boot_wait, then until the guest's SSH banner arrives on
//     the forwarded port, then the login on the connection that brought
//     it, all within ssh_timeout. The error
//     names the last cause and ends with the last lines of the guest's
//     serial console.
//   - provision: the engine's hook runs the provisioners.
//   - shut down: shutdown_command through the communicator (a lost
//     connection is expected), or without one an ACPI power-button press
//     through QMP; then up to shutdown_timeout for qemu to exit; only then
//     SIGTERM and SIGKILL, with a warning. A running guest is never killed
//     first.
//   - convert disk: after qemu has exited, qemu-img convert (-c with
//     disk_compression; -B base with use_backing_file) to
//     output_directory/vm_name through a temporary name, or a rename with
//     skip_compaction; then the output's sha256, while it is in the page
//     cache. When the base was compressed in the background, the overlay
//     is rebased (-u) onto that copy (grown to the overlay's size) and committed
//     into it: only the clusters the guest wrote are written (uncompressed),
//     and the copy becomes the output; if the background job failed, the
//     full convert runs instead.
//
// The artifact's ID and only item are the output disk (path, sha256 digest,
// size, format); its Parent is the base disk's path and sha256.
//
// # Differences from Packer
//
//   - qemuargs replace or add one switch at a time. A switch that says one
//     thing about the machine (-m, -smp, -machine, -cpu, -name, -kernel,
//     -append...) replaces bake's value in place; a repeatable one
//     (-device, -drive, -netdev, -object, -chardev...) is added and bake's
//     disk, network and CD stay, unless it names the same id= (bake's
//     network is id=user.0, as in Packer templates), the same netdev=, or
//     the build's disk ({{ .OutputDir }}/{{ .Name }} is mapped to the
//     working disk). Packer drops every default device and drive as soon
//     as one -device or -drive is given. qemuargs may use Packer's
//     {{ .HTTPIP }}, {{ .HTTPPort }}, {{ .SSHHostPort }}, {{ .OutputDir }}
//     and {{ .Name }}.
//   - accelerator defaults to auto: kvm only when BAKE_QEMU_KVM=1 and
//     /dev/kvm opens, else tcg (Packer defaults to kvm). /dev/kvm alone
//     proves nothing: under nested virtualisation it opens and guests hang.
//   - Without shutdown_command the guest gets an ACPI power-button press
//     and shutdown_timeout to power off; Packer stops the VM at once.
//   - The disk is converted only after qemu has exited, and its sha256 is
//     part of the artifact.
//   - The forwarded SSH port is locked (flock on a file per port in
//     $TMPDIR/bake-ports) for the whole build, and held by a listener until
//     qemu binds it, so parallel builds, in one bake or several, never share
//     one; if another program takes it in between, bake tries another.
//   - Waiting for SSH names its last cause and shows the guest's console
//     instead of Packer's bare "timeout waiting for SSH".
//   - boot_command and boot_steps are typed through qemu's QMP monitor
//     (input-send-event), not over VNC: no VNC port is opened or raced
//     for (-display none). An unknown <key> is an error at validate,
//     where Packer would type it literally.
//
// Everything a build creates carries the run id: qemu's -name
// (bake-<run id>-<build>), the temporary directory, the working disk and
// the partial output (.<vm_name>.<run id>.work/.part in the output
// directory), so a crash's leftovers can be found (pgrep -f <run id>).
package qemu
