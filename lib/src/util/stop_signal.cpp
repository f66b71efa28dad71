#include <seqtorch/util/stop_signal.h>

#include <csignal>

namespace seqtorch::util {

namespace {
// The one piece of process-wide state: a signal handler can reach nothing else.
volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_stop_signal(int sig) {
  if (g_signal == sig) {  // second time: the default action (terminate) after all
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_signal = sig;
}
}  // namespace

void install_stop_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

int stop_requested() { return g_signal; }

void clear_stop_request() { g_signal = 0; }

}  // namespace seqtorch::util
