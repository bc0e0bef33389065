//go:build !unix

package devstack

import (
	"os"
	"os/exec"
)

func setProcAttrs(*exec.Cmd) {}

func termProcess(p *os.Process) error { return p.Kill() }

func killProcess(p *os.Process) error { return p.Kill() }
