package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The benchmarks report CPU time per operation next to wall-clock figures.
// On a machine shared with other work, wall-clock rates depend on how much
// CPU the benchmark got, while CPU time per operation stays close to the
// cost of the work itself.

// selfCPU returns the CPU time this process has used, user plus system.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTicks is the unit of the CPU times in /proc/PID/stat, USER_HZ,
// which is 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpu returns the CPU time the process has used, user plus system, with
// the 10 ms resolution of /proc/PID/stat.
func (p *serverProcess) cpu(b *testing.B) time.Duration {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name is in parentheses and may contain spaces, so the
	// fields are counted after it. The first is the state (field 3), and
	// utime and stime are fields 14 and 15.
	end := strings.LastIndexByte(string(data), ')')
	fields := strings.Fields(string(data[end+1:]))
	if len(fields) < 13 {
		b.Fatalf("short /proc/%d/stat: %q", p.cmd.Process.Pid, data)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			b.Fatalf("parse /proc/%d/stat: %v", p.cmd.Process.Pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// perOp divides a CPU time by a count of operations, in nanoseconds.
func perOp(cpu time.Duration, ops int64) float64 {
	if ops == 0 {
		return 0
	}
	return float64(cpu.Nanoseconds()) / float64(ops)
}
