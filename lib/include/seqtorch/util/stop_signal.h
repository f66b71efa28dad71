#pragma once
// SIGINT / SIGTERM as a request to stop cleanly: the handler only records the signal; the
// trainer finishes its step, writes last.pt and returns, and the app exits 128 + signal.
namespace seqtorch::util {

/// Installs handlers for SIGINT and SIGTERM (idempotent). A second signal of the same kind while
/// a stop is pending takes the default action, so a stuck process can still be killed.
void install_stop_handlers();
/// The signal received since install (or the last clear), 0 if none.
int stop_requested();
/// Forgets a received signal (tests).
void clear_stop_request();

}  // namespace seqtorch::util
