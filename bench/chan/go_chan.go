// go_chan.go - the Go baseline for bench_chan.c: two goroutines (run with GOMAXPROCS=2),
// "xpong" ping-pong over unbuffered channels (ns per message, two per round trip) and "xbuf"
// N messages through a channel of capacity 1024; "same0" with GOMAXPROCS=1 for reference.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	what := os.Args[1]
	n := 1000000
	if len(os.Args) > 2 {
		n, _ = strconv.Atoi(os.Args[2])
	}
	switch what {
	case "xpong", "same0":
		a2b, b2a := make(chan int), make(chan int)
		done := make(chan bool)
		t0 := time.Now()
		if what == "same0" {
			go func() {
				for i := 0; i < n; i++ {
					<-a2b
				}
				done <- true
			}()
			for i := 0; i < n; i++ {
				a2b <- i
			}
			<-done
			fmt.Printf("same0 %.2f\n", float64(time.Since(t0).Nanoseconds())/float64(n))
			return
		}
		go func() {
			for i := 0; i < n; i++ {
				v := <-a2b
				b2a <- v
			}
			done <- true
		}()
		for i := 0; i < n; i++ {
			a2b <- i
			<-b2a
		}
		<-done
		fmt.Printf("xpong %.2f\n", float64(time.Since(t0).Nanoseconds())/float64(2*n))
	case "xbuf":
		c := make(chan int, 1024)
		done := make(chan bool)
		t0 := time.Now()
		go func() {
			for i := 0; i < n; i++ {
				<-c
			}
			done <- true
		}()
		for i := 0; i < n; i++ {
			c <- i
		}
		<-done
		fmt.Printf("xbuf %.2f\n", float64(time.Since(t0).Nanoseconds())/float64(n))
	}
}
