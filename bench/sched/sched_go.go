// bench/sched/sched_go.go - the scheduler rows of bench/sched/sched_coro.c in Go, for
// comparison: run with GOMAXPROCS=1 (one thread runs goroutines, as coro_sched.h runs tasks).
// Same modes, sizes and output as sched_coro.c.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"
)

const (
	chanN      = 500000
	yieldTotal = 1000000
	spawnN     = 100000
	sleepN     = 100000
)

var lcg uint32 = 42

func sleepMs() int {
	lcg = lcg*1103515245 + 12345
	return int((lcg >> 8) % 1001)
}

func main() {
	mode := "yield2"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch {
	case mode == "chan0":
		ping, pong := make(chan int), make(chan int)
		var wg sync.WaitGroup
		wg.Add(2)
		t := time.Now()
		go func() {
			for i := 0; i < chanN; i++ {
				ping <- i
				<-pong
			}
			wg.Done()
		}()
		go func() {
			for i := 0; i < chanN; i++ {
				v := <-ping
				pong <- v
			}
			wg.Done()
		}()
		wg.Wait()
		fmt.Printf("ns=%.2f\n", float64(time.Since(t).Nanoseconds())/(2.0*chanN))
	case len(mode) > 5 && mode[:5] == "yield":
		k, _ := strconv.Atoi(mode[5:])
		n := yieldTotal / k
		var wg sync.WaitGroup
		wg.Add(k)
		t := time.Now()
		for i := 0; i < k; i++ {
			go func() {
				for j := 0; j < n; j++ {
					runtime.Gosched()
				}
				wg.Done()
			}()
		}
		wg.Wait()
		fmt.Printf("ns=%.2f\n", float64(time.Since(t).Nanoseconds())/float64(k*n))
	case mode == "spawn_b":
		v := make([]float64, 3)
		for r := 0; r < 3; r++ {
			var wg sync.WaitGroup
			wg.Add(spawnN)
			t := time.Now()
			for i := 0; i < spawnN; i++ {
				go func() { wg.Done() }()
				if i%100 == 99 {
					runtime.Gosched()
				}
			}
			wg.Wait()
			v[r] = float64(time.Since(t).Nanoseconds()) / spawnN
		}
		sort.Float64s(v)
		fmt.Printf("ns=%.2f\n", v[1])
	case mode == "spawn":
		var wg sync.WaitGroup
		wg.Add(spawnN)
		t := time.Now()
		for i := 0; i < spawnN; i++ {
			go func() { wg.Done() }()
		}
		wg.Wait()
		fmt.Printf("ns=%.2f\n", float64(time.Since(t).Nanoseconds())/spawnN)
	case mode == "sleep":
		var wg sync.WaitGroup
		var mu sync.Mutex
		var last time.Time
		wg.Add(sleepN)
		t0 := time.Now()
		for i := 0; i < sleepN; i++ {
			d := time.Duration(sleepMs()) * time.Millisecond
			go func() {
				time.Sleep(d)
				now := time.Now()
				mu.Lock()
				if now.After(last) {
					last = now
				}
				mu.Unlock()
				wg.Done()
			}()
		}
		wg.Wait()
		fmt.Printf("ms=%d\n", last.Sub(t0).Milliseconds())
	default:
		fmt.Println("error=mode")
		os.Exit(1)
	}
}
