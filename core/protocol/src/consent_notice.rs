//! The consent notice: what a user is asked to allow, per purpose, in English and Japanese,
//! under a version. Every front end (the applications through `ecsp-client`, the server's
//! portal) shows this one text, and a decision names the version it was made under.

use serde::Serialize;

use crate::consent::Purpose;

/// The version of the consent notice this build shows. Changing it asks every user again.
pub const CURRENT_NOTICE_VERSION: &str = "2026-11";

/// A language the notice is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeLanguage {
    En,
    Ja,
}

impl NoticeLanguage {
    /// The language for a locale such as `ja_JP.UTF-8` or `en-GB` (English unless Japanese).
    pub fn from_locale(locale: &str) -> Self {
        if locale.to_ascii_lowercase().starts_with("ja") {
            NoticeLanguage::Ja
        } else {
            NoticeLanguage::En
        }
    }
}

/// What the user is asked to consent to, for one purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoticeItem {
    pub purpose: Purpose,
    pub title: &'static str,
    pub text: &'static str,
}

/// The consent notice this build shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub version: &'static str,
    pub language: NoticeLanguage,
    pub introduction: &'static str,
    pub items: Vec<NoticeItem>,
}

/// The notice under [`CURRENT_NOTICE_VERSION`], in `language`.
pub fn notice(language: NoticeLanguage) -> Notice {
    let (introduction, texts): (&str, [(&str, &str); 3]) = match language {
        NoticeLanguage::En => (
            "This application sends your printers' settings and your measurements to your \
             organisation's ECSP server. The three kinds of information below are sent only if \
             you allow it. You can refuse, and later withdraw what you allowed, at any time: \
             what has not left this machine yet is then deleted from it.",
            [
                (
                    "Job information",
                    "Names, page counts and times of the print jobs a DFE processed, sent with \
                     its settings so service staff can relate problems to jobs.",
                ),
                (
                    "GPS position",
                    "Where a measurement was taken, so measurements can be matched to sites.",
                ),
                (
                    "Photos",
                    "Photos you attach to a measurement, such as of the print or the instrument.",
                ),
            ],
        ),
        NoticeLanguage::Ja => (
            "このアプリケーションは、プリンターの設定と測定結果を組織の ECSP サーバーへ送信します。\
             以下の 3 種類の情報は、許可した場合にのみ送信されます。いつでも拒否でき、許可した後で\
             撤回することもできます。撤回すると、まだこの端末から送信されていない情報は端末から削除されます。",
            [
                (
                    "ジョブ情報",
                    "DFE が処理した印刷ジョブの名前、ページ数、時刻。設定と合わせて送信し、\
                     サービス担当者が不具合とジョブを関連付けられるようにします。",
                ),
                (
                    "GPS 位置情報",
                    "測定を行った場所。測定結果を設置場所と対応付けるために使います。",
                ),
                ("写真", "測定に添付する写真（印刷物や測定器など）。"),
            ],
        ),
    };
    Notice {
        version: CURRENT_NOTICE_VERSION,
        language,
        introduction,
        items: Purpose::ALL
            .into_iter()
            .zip(texts)
            .map(|(purpose, (title, text))| NoticeItem {
                purpose,
                title,
                text,
            })
            .collect(),
    }
}
