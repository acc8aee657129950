//go:build linux

// Command loopback brings the loopback interface ("lo") up in the network
// namespace it runs in, as "ip link set lo up" does, for machines without
// iproute2. conformance/azsecrets.sh runs it inside its loopback-only
// namespace (which starts with lo down); it needs CAP_NET_ADMIN there.
package main

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// ifreq is struct ifreq with the flags member of its union (linux/if.h).
type ifreq struct {
	name  [syscall.IFNAMSIZ]byte
	flags uint16
	_     [22]byte
}

func ioctl(fd int, req uintptr, ifr *ifreq) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(ifr))); errno != 0 {
		return errno
	}
	return nil
}

func main() {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loopback: socket:", err)
		os.Exit(1)
	}
	defer syscall.Close(fd)
	var ifr ifreq
	copy(ifr.name[:], "lo")
	if err := ioctl(fd, syscall.SIOCGIFFLAGS, &ifr); err != nil {
		fmt.Fprintln(os.Stderr, "loopback: reading the flags of lo:", err)
		os.Exit(1)
	}
	ifr.flags |= syscall.IFF_UP | syscall.IFF_RUNNING
	if err := ioctl(fd, syscall.SIOCSIFFLAGS, &ifr); err != nil {
		fmt.Fprintln(os.Stderr, "loopback: bringing lo up:", err)
		os.Exit(1)
	}
}
