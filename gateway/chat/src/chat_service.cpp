#include "tsunagu/chat/chat_service.h"

namespace tsunagu::chat {
namespace {

using common::Pick;

// "chat.posted" -> "post": the op label of ChatMetrics.
std::string_view OpOf(std::string_view event) {
  if (event == "chat.posted") return "post";
  if (event == "chat.updated") return "update";
  if (event == "chat.notice") return "notice";
  if (event == "chat.room") return "room";
  return event;
}

template <typename T>
void LogOutcome(spdlog::logger* log, ChatMetrics* metrics, std::string_view event,
                const std::string& thread, const std::string& connector, std::int64_t job,
                const ChatResult<T>& r) {
  if (metrics != nullptr) {
    metrics->Count(connector, OpOf(event),
                   r.ok() ? std::string_view("ok") : common::ErrorCodeName(r.status().code()));
  }
  if (log == nullptr) return;
  if (r.ok()) {
    log->info("{} thread={} connector={} job={}", event, thread, connector, job);
    return;
  }
  const common::Status st = r.status();
  log->log(st.retryable() ? spdlog::level::debug : spdlog::level::warn,
           "chat.refused op={} thread={} connector={} job={} code={} retryable={} "
           "retry_after_ms={} reason=\"{}\"",
           event, thread, connector, job, common::ErrorCodeName(st.code()), st.retryable(),
           r.retry_after() ? r.retry_after()->count() : -1, st.message());
}

std::string_view TypeName(config::ChatConnectorType t) {
  switch (t) {
    case config::ChatConnectorType::kWebhook:
      return "webhook";
    case config::ChatConnectorType::kSlack:
      return "slack";
    case config::ChatConnectorType::kMatrix:
      return "matrix";
    case config::ChatConnectorType::kLineWorks:
      return "lineworks";
    case config::ChatConnectorType::kChatwork:
      return "chatwork";
    case config::ChatConnectorType::kXmpp:
      return "xmpp";
  }
  return "?";
}

}  // namespace

common::Result<std::unique_ptr<ChatService>> ChatService::Create(
    const config::GatewayOptions& options, ChatServiceDeps deps) {
  if (deps.clock == nullptr) return common::InternalError("ChatService: no clock");
  std::unique_ptr<ChatService> s(new ChatService());
  s->utc_offset_ = options.chat.utc_offset;
  s->patient_rooms_ = deps.patient_rooms;
  s->log_ = deps.log;
  s->metrics_ = deps.metrics;
  std::map<std::string, config::ChatConnectorType> types;
  for (const auto& c : options.chat.connectors) {
    auto conn = MakeConnector(c, {.clock = deps.clock, .transport = deps.transport});
    if (!conn.ok()) return conn.status();
    types[c.name] = c.type;
    s->connectors_[c.name] = std::move(*conn);
  }
  for (const auto& t : options.threads) {
    auto it = s->connectors_.find(t.connector);
    if (it == s->connectors_.end()) {
      return common::InvalidArgumentError("thread \"" + t.name + "\": connector \"" + t.connector +
                                          "\" is not configured in [chat]");
    }
    Thread th;
    th.info.name = t.name;
    th.info.connector = t.connector;
    th.info.type = types[t.connector];
    th.info.capabilities = it->second->capabilities();
    th.info.language = t.language.value_or(options.language);
    th.info.access_code_required = t.access_code_required;
    th.info.policy = t.chat;
    th.destination = t.destination;
    th.connector = it->second.get();
    s->threads_.push_back(th.info);
    s->by_index_.push_back(std::move(th));
  }
  return s;
}

common::Result<const ChatService::Thread*> ChatService::Find(const std::string& name) const {
  for (const auto& t : by_index_) {
    if (t.info.name == name) return &t;
  }
  return common::Status(common::ErrorCode::kNotFound,
                        "unknown chat thread \"" + name + "\" (see tsunagu-gateway chat list)",
                        false);
}

ThreadTarget ChatService::TargetFor(const Thread& t, std::string destination) const {
  return {t.info.name, std::move(destination), {t.info.language, utc_offset_}};
}

Card ChatService::ApplyPolicy(const Thread& t, Card card) const {
  if (!t.info.policy.thumbnails) card.thumbnail_url.reset();
  if (!t.info.policy.seen_receipts) card.opened_at.reset();
  card.access_code_required = t.info.access_code_required;
  return card;
}

ChatResult<PostResult> ChatService::Post(const std::string& thread, Card card,
                                         const std::optional<PatientRoute>& patient,
                                         const std::string& idempotency_key) {
  auto found = Find(thread);
  if (!found.ok()) return found.status();
  const Thread& t = **found;
  std::string destination = t.destination;
  if (t.info.policy.per_patient) {
    if (!patient && t.destination.empty()) {
      return common::InvalidArgumentError(
          "thread \"" + thread +
          "\" is per patient and the study has no Patient ID to route by; give the thread a "
          "destination for such studies");
    }
    if (patient && patient_rooms_ == nullptr) {
      return common::InternalError("ChatService: per-patient thread without a room store");
    }
    if (patient) {
      auto dest = ResolvePatientDestination(
          *patient_rooms_, *t.connector, thread, *patient,
          {t.info.policy.room_label, t.info.policy.invite, t.destination});
      if (!dest.ok()) {
        LogOutcome(log_.get(), metrics_, "chat.room", thread, t.info.connector, card.job_id, dest);
        return {dest.status(), dest.retry_after()};
      }
      destination = *dest;
    }
  }
  const std::int64_t job = card.job_id;
  auto r = t.connector->Post(ApplyPolicy(t, std::move(card)), TargetFor(t, destination),
                             idempotency_key);
  LogOutcome(log_.get(), metrics_, "chat.posted", thread, t.info.connector, job, r);
  if (!r.ok()) return r;
  PostResult out = *r;
  out.destination = destination;
  return out;
}

ChatResult<PostResult> ChatService::Update(const std::string& thread, Card card,
                                           const PostResult& posted,
                                           const std::string& idempotency_key) {
  auto found = Find(thread);
  if (!found.ok()) return found.status();
  const Thread& t = **found;
  if (!t.info.capabilities.can_edit) {
    return common::Status(common::ErrorCode::kFailedPrecondition,
                          "thread \"" + thread + "\": its platform cannot edit a posted card",
                          false);
  }
  const std::int64_t job = card.job_id;
  auto r = t.connector->Update(ApplyPolicy(t, std::move(card)), TargetFor(t, posted.destination),
                               posted.message_id, idempotency_key);
  LogOutcome(log_.get(), metrics_, "chat.updated", thread, t.info.connector, job, r);
  if (!r.ok()) return r;
  PostResult out = *r;
  out.destination = posted.destination;
  return out;
}

ChatResult<PostResult> ChatService::NotifyOpened(const std::string& thread, Card card,
                                                 std::chrono::system_clock::time_point opened_at,
                                                 const PostResult& posted,
                                                 const std::string& idempotency_key) {
  auto found = Find(thread);
  if (!found.ok()) return found.status();
  const Thread& t = **found;
  if (!t.info.policy.seen_receipts) {
    return common::Status(common::ErrorCode::kFailedPrecondition,
                          "thread \"" + thread + "\" does not show seen receipts", false);
  }
  card.opened_at = opened_at;
  if (t.info.capabilities.can_edit) return Update(thread, std::move(card), posted, idempotency_key);
  const std::int64_t job = card.job_id;
  const std::string notice = MakeOpenedNotice(card, TargetFor(t, posted.destination).render);
  auto r = t.connector->PostNotice(notice, TargetFor(t, posted.destination), idempotency_key);
  LogOutcome(log_.get(), metrics_, "chat.notice", thread, t.info.connector, job, r);
  if (!r.ok()) return r;
  PostResult out = *r;
  out.destination = posted.destination;
  return out;
}

common::Status ChatService::Test(const std::string& thread) {
  auto found = Find(thread);
  if (!found.ok()) return found.status();
  const Thread& t = **found;
  if (t.destination.empty() && t.info.policy.per_patient &&
      t.info.type != config::ChatConnectorType::kWebhook &&
      t.info.type != config::ChatConnectorType::kSlack) {
    return common::Status(common::ErrorCode::kFailedPrecondition,
                          "thread \"" + thread +
                              "\" creates a room per patient and has no fixed destination to "
                              "test; set destination to a test room",
                          false);
  }
  common::Status st = t.connector->Test(TargetFor(t, t.destination));
  if (metrics_ != nullptr) {
    metrics_->Count(t.info.connector, "test",
                    st.ok() ? std::string_view("ok") : common::ErrorCodeName(st.code()));
  }
  return st;
}

Card MakePreviewCard(std::chrono::system_clock::time_point now, common::Language l) {
  Card c;
  c.job_id = 42;
  c.modality = "CT";
  c.body_part = "CHEST";
  c.study_description = std::string(Pick(l, "胸部造影CT 大動脈", "CT chest angio aorta"));
  c.study_date = "20261122";
  c.study_time = "031400";
  c.series_count = 3;
  c.image_count = 412;
  c.patient_id_suffix = "1234";
  c.sender_note =
      std::string(Pick(l, "大動脈基部をご確認ください", "please look at the aortic root"));
  c.expires_at = now + std::chrono::hours(72);
  c.access_code_required = true;
  c.viewer_url = "https://relay.example.jp/v/EXAMPLE-TOKEN";
  return c;
}

namespace {

int RunPreview(const std::vector<std::string>& args, const config::GatewayOptions& options,
               const common::Clock& clock, std::ostream& out, std::ostream& err) {
  common::Language l = options.language;
  if (args.size() >= 3) {
    if (args[2] == "ja") {
      l = common::Language::kJapanese;
    } else if (args[2] == "en") {
      l = common::Language::kEnglish;
    } else {
      err << "tsunagu-gateway: chat preview: language must be ja or en\n";
      return 2;
    }
  }
  Card card = MakePreviewCard(clock.SystemNow(), l);
  if (args.size() == 4 && args[3] == "opened") {
    card.opened_at = clock.SystemNow();
  } else if (args.size() == 4 && args[3] == "expired") {
    card.state = CardState::kExpired;
  } else if (args.size() == 4) {
    err << "tsunagu-gateway: chat preview: state must be opened or expired\n";
    return 2;
  }
  const RenderOptions render{l, options.chat.utc_offset};
  const std::string& format = args[1];
  if (format == "text") {
    out << RenderPlainText(card, render) << "\n";
  } else if (format == "html") {
    out << RenderHtml(card, render) << "\n";
  } else if (format == "slack") {
    out << RenderMarkdown(card, render, MarkdownDialect::kSlack) << "\n";
  } else if (format == "mattermost") {
    out << RenderMarkdown(card, render, MarkdownDialect::kMattermost) << "\n";
  } else if (format == "chatwork") {
    out << RenderChatwork(card, render) << "\n";
  } else {
    err << "tsunagu-gateway: chat preview: format must be text, html, slack, mattermost or "
           "chatwork\n";
    return 2;
  }
  return 0;
}

int RunRooms(const std::vector<std::string>& args, const config::GatewayOptions& options,
             PatientThreadStore* rooms, std::ostream& out, std::ostream& err) {
  const common::Language l = options.language;
  if (rooms == nullptr) {
    err << "tsunagu-gateway: "
        << Pick(l, "患者ごとのルームの記録がありません", "no patient room store") << "\n";
    return 1;
  }
  if (args.size() == 1) {
    auto list = rooms->List();
    if (!list.ok()) {
      err << "tsunagu-gateway: " << list.status().message() << "\n";
      return 1;
    }
    out << Pick(l, "キー (HMAC 先頭12桁)\tスレッド\t宛先\n",
                "key (HMAC, first 12)\tthread\tdestination\n");
    for (const auto& r : *list) {
      out << r.patient_key.substr(0, 12) << "\t" << r.thread << "\t" << r.destination << "\n";
    }
    return 0;
  }
  if (args.size() == 4 && args[1] == "forget") {
    auto n = rooms->Forget(args[2], args[3]);
    if (!n.ok()) {
      err << "tsunagu-gateway: " << n.status().message() << "\n";
      return 1;
    }
    if (*n != 1) {
      err << "tsunagu-gateway: "
          << Pick(l, "該当する対応付けが1件ではありません: ",
                  "the key prefix matches not exactly one mapping: ")
          << *n << "\n";
      return 1;
    }
    out << Pick(l, "対応付けを削除しました。次の検査で新しいルームを作ります\n",
                "mapping removed; the next study creates a new room\n");
    return 0;
  }
  err << Pick(l, "使い方: tsunagu-gateway chat rooms | chat rooms forget スレッド名 キー先頭\n",
              "usage: tsunagu-gateway chat rooms | chat rooms forget THREAD KEY_PREFIX\n");
  return 2;
}

}  // namespace

int RunChatCommand(const std::vector<std::string>& args, const config::GatewayOptions& options,
                   ChatServiceDeps deps, std::ostream& out, std::ostream& err) {
  const common::Language l = options.language;
  const bool list = args.size() == 1 && args[0] == "list";
  const bool test = args.size() == 2 && args[0] == "test";
  if (!args.empty() && args[0] == "preview" && args.size() >= 2 && args.size() <= 4) {
    return RunPreview(args, options, *deps.clock, out, err);
  }
  if (!args.empty() && args[0] == "rooms") {
    return RunRooms(args, options, deps.patient_rooms, out, err);
  }
  if (!list && !test) {
    err << Pick(l,
                "使い方: tsunagu-gateway chat list | chat test スレッド名 | chat preview 形式 "
                "[ja|en] [opened|expired] | chat rooms [forget スレッド名 キー先頭]\n",
                "usage: tsunagu-gateway chat list | chat test THREAD | chat preview FORMAT "
                "[ja|en] [opened|expired] | chat rooms [forget THREAD KEY_PREFIX]\n");
    return 2;
  }
  if (list) {
    for (const auto& t : options.threads) {
      std::string type = "?";
      for (const auto& c : options.chat.connectors) {
        if (c.name == t.connector) type = std::string(TypeName(c.type));
      }
      out << t.name << "\t" << t.connector << " (" << type << ")\t"
          << (t.destination.empty() ? "-" : t.destination)
          << (t.chat.per_patient ? Pick(l, "\t患者ごと", "\tper patient") : "") << "\n";
    }
    return 0;
  }
  auto service = ChatService::Create(options, std::move(deps));
  if (!service.ok()) {
    err << "tsunagu-gateway: " << service.status().message() << "\n";
    return 2;
  }
  const common::Status st = (*service)->Test(args[1]);
  if (st.code() == common::ErrorCode::kNotFound &&
      st.message().rfind("unknown chat thread", 0) == 0) {
    err << "tsunagu-gateway: " << st.message() << "\n";
    return 2;
  }
  if (!st.ok()) {
    err << args[1] << ": " << Pick(l, "テスト投稿に失敗しました: ", "test card refused: ")
        << st.message() << "\n";
    return 1;
  }
  out << args[1] << ": " << Pick(l, "テスト投稿を送信しました", "test card posted") << "\n";
  return 0;
}

}  // namespace tsunagu::chat
