//go:build unix

package devstack

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcAttrs puts the child in its own process group: a Ctrl-C in the
// terminal reaches only devstack, which then stops the processes in order.
func setProcAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func signalGroup(p *os.Process, sig syscall.Signal) error {
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		return p.Signal(sig)
	}
	return nil
}

func termProcess(p *os.Process) error { return signalGroup(p, syscall.SIGTERM) }

func killProcess(p *os.Process) error { return signalGroup(p, syscall.SIGKILL) }
