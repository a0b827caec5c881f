// A scripted HttpTransport for unit tests: records every request and answers from a queue.
#ifndef TSUNAGU_TESTS_UNIT_CHAT_FAKE_TRANSPORT_H_
#define TSUNAGU_TESTS_UNIT_CHAT_FAKE_TRANSPORT_H_

#include <deque>
#include <mutex>
#include <vector>

#include "tsunagu/chat/http_transport.h"

namespace tsunagu::chat::testing {

class FakeTransport final : public HttpTransport {
 public:
  common::Result<HttpResponse> Send(const HttpRequest& request) override {
    std::lock_guard<std::mutex> lock(mu_);
    requests.push_back(request);
    if (answers.empty()) return common::InternalError("FakeTransport: no answer scripted");
    auto a = answers.front();
    answers.pop_front();
    return a;
  }
  void Answer(int status, std::string body = "", Headers headers = {}) {
    answers.push_back(HttpResponse{status, std::move(headers), std::move(body)});
  }
  void Fail(common::Status status) { answers.push_back(std::move(status)); }

  std::vector<HttpRequest> requests;
  std::deque<common::Result<HttpResponse>> answers;

 private:
  std::mutex mu_;
};

inline std::string HeaderOf(const HttpRequest& r, std::string_view name) {
  HttpResponse tmp{0, r.headers, ""};
  return tmp.Header(name);
}

}  // namespace tsunagu::chat::testing

#endif  // TSUNAGU_TESTS_UNIT_CHAT_FAKE_TRANSPORT_H_
