// Internal to api/server: what a session needs from the server that owns it.
#pragma once

#include <memory>

#include "api/api.h"
#include "api/server.h"

namespace flotilla::api::server {

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Posted by the server at shutdown: stop reading new requests; an in-flight one finishes.
  virtual void notify_shutdown() = 0;
};

class ConsoleWriters;

class SessionHost {
 public:
  virtual ~SessionHost() = default;
  virtual Api& api() = 0;
  virtual const ServerOptions& options() const = 0;
  virtual bool stopping() const = 0;
  virtual void session_started(const std::shared_ptr<SessionBase>& s) = 0;
  virtual void session_ended() = 0;
  // Which VMs have a console writer attached (console_session.h).
  virtual ConsoleWriters& console_writers() = 0;
};

}  // namespace flotilla::api::server
