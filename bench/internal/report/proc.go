package report

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// RSS is the resident set size of a process, in bytes (Linux /proc).
func RSS(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err != nil {
				return 0, err
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// CPUTime is the user and system CPU time a process has used so far
// (Linux /proc/<pid>/stat, in clock ticks of 10 ms).
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: fields count from the
	// closing parenthesis.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("pid %d: unreadable stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("pid %d: short stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("pid %d: unreadable stat", pid)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// CPUTimes sums CPUTime over pids.
func CPUTimes(pids ...int) (time.Duration, error) {
	var sum time.Duration
	for _, p := range pids {
		d, err := CPUTime(p)
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

// RunQueueWait is the time the threads of the processes pids have spent
// runnable but waiting for a CPU so far: the second field of Linux's
// /proc/<pid>/task/<tid>/schedstat, summed over the threads alive now (a
// thread that ends between two readings takes its share with it; Go
// rarely ends threads). It fails when no thread of a process can be read
// (a kernel without scheduler statistics).
func RunQueueWait(pids ...int) (time.Duration, error) {
	var sum time.Duration
	for _, p := range pids {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", p))
		if err != nil {
			return 0, err
		}
		read := 0
		for _, t := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", p, t.Name()))
			if err != nil {
				continue // the thread ended
			}
			f := strings.Fields(string(b))
			if len(f) < 2 {
				return 0, fmt.Errorf("pid %d: unreadable schedstat", p)
			}
			ns, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("pid %d: unreadable schedstat", p)
			}
			sum += time.Duration(ns)
			read++
		}
		if read == 0 {
			return 0, fmt.Errorf("pid %d: no thread's schedstat could be read", p)
		}
	}
	return sum, nil
}

// MachineCPU is the whole machine's CPU time so far (Linux /proc/stat, in
// clock ticks of 10 ms): busy (every state but idle and I/O wait) and the
// total over all CPUs.
func MachineCPU() (busy, total time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("unreadable /proc/stat")
	}
	var ticks [10]int64
	for i := 1; i < len(f) && i <= len(ticks); i++ {
		if ticks[i-1], err = strconv.ParseInt(f[i], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("unreadable /proc/stat: %w", err)
		}
	}
	// user nice system idle iowait irq softirq steal (guest time is
	// already in user).
	var all int64
	for _, t := range ticks[:8] {
		all += t
	}
	idle := ticks[3] + ticks[4]
	return time.Duration(all-idle) * 10 * time.Millisecond, time.Duration(all) * 10 * time.Millisecond, nil
}
