/* The pod sandbox's process: sleeps until told to stop, and reaps any child it
 * inherits (the pod's PID namespace may be shared). Built static by build.sh and
 * packaged as the node's pause image, so no image is pulled from a registry. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  signal(SIGINT, stop);
  signal(SIGTERM, stop);
  signal(SIGCHLD, reap);
  for (;;) pause();
}
