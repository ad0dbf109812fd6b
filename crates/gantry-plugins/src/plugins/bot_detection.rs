//! bot-detection (PRIORITY 2500): reject known bots by `User-Agent`
//! (`kong/plugins/bot-detection/handler.lua` and `rules.lua`, kong-reference §6.21).

use std::sync::LazyLock;

use gantry_core::schema::typedefs as t;
use gantry_core::schema::{Field, Schema};
use http::StatusCode;
use http::header::USER_AGENT;
use regex::{Regex, RegexSet};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ConsumerScope, subschema};
use crate::ctx::RequestCtx;
use crate::plugin::{ConfigureEnv, Phases, Plugin, PluginHandler};
use crate::respond::Decision;

/// The bot-detection plugin.
#[derive(Debug)]
pub struct BotDetection;

#[derive(Debug, Deserialize)]
struct Config {
    allow: Vec<String>,
    deny: Vec<String>,
}

/// Kong's built-in bot rules (from ua-parser's regexes).
const RULES: [&str; 12] = [
    r"(Pingdom.com_bot_version_)(\d+)\.(\d+)",
    r"(facebookexternalhit)/(\d+)\.(\d+)",
    r"Google.*/\+/web/snippet",
    r"(Twitterbot)/(\d+)\.(\d+)",
    r"/((?:Ant-)?Nutch|[A-z]+[Bb]ot|[A-z]+[Ss]pider|Axtaris|fetchurl|Isara|ShopSalad|Tailsweep)[ \-](\d+)(?:\.(\d+)(?:\.(\d+))?)?",
    r"(008|Altresium|Argus|BaiduMobaider|BoardReader|DNSGroup|DataparkSearch|EDI|Goodzer|Grub|INGRID|Infohelfer|LinkedInBot|LOOQ|Nutch|PathDefender|Peew|PostPost|Steeler|Twitterbot|VSE|WebCrunch|WebZIP|Y!J-BR[A-Z]|YahooSeeker|envolk|sproose|wminer)/(\d+)(?:\.(\d+)(?:\.(\d+))?)?",
    r"(MSIE) (\d+)\.(\d+)([a-z]\d?)?;.* MSIECrawler",
    r"(Google-HTTP-Java-Client|Apache-HttpClient|http%20client|Python-urllib|HttpMonitor|TLSProber|WinHTTP|JNLP)(?:[ /](\d+)(?:\.(\d+)(?:\.(\d+))?)?)?",
    r"(1470\.net crawler|50\.nu|8bo Crawler Bot|Aboundex|Accoona-[A-z]+-Agent|AdsBot-Google(?:-[a-z]+)?|altavista|AppEngine-Google|archive.*?\.org_bot|archiver|Ask Jeeves|[Bb]ai[Dd]u[Ss]pider(?:-[A-Za-z]+)*|bingbot|BingPreview|blitzbot|BlogBridge|BoardReader(?: [A-Za-z]+)*|boitho.com-dc|BotSeer|\b\w*favicon\w*\b|\bYeti(?:-[a-z]+)?|Catchpoint bot|[Cc]harlotte|Checklinks|clumboot|Comodo HTTP\(S\) Crawler|Comodo-Webinspector-Crawler|ConveraCrawler|CRAWL-E|CrawlConvera|Daumoa(?:-feedfetcher)?|Feed Seeker Bot|findlinks|Flamingo_SearchEngine|FollowSite Bot|furlbot|Genieo|gigabot|GomezAgent|gonzo1|(?:[a-zA-Z]+-)?Googlebot(?:-[a-zA-Z]+)?|Google SketchUp|grub-client|gsa-crawler|heritrix|HiddenMarket|holmes|HooWWWer|htdig|ia_archiver|ICC-Crawler|Icarus6j|ichiro(?:/mobile)?|IconSurf|IlTrovatore(?:-Setaccio)?|InfuzApp|Innovazion Crawler|InternetArchive|IP2[a-z]+Bot|jbot\b|KaloogaBot|Kraken|Kurzor|larbin|LEIA|LesnikBot|Linguee Bot|LinkAider|LinkedInBot|Lite Bot|Llaut|lycos|Mail\.RU_Bot|masidani_bot|Mediapartners-Google|Microsoft .*? Bot|mogimogi|mozDex|MJ12bot|msnbot(?:-media *)?|msrbot|netresearch|Netvibes|NewsGator[^/]*|^NING|Nutch[^/]*|Nymesis|ObjectsSearch|Orbiter|OOZBOT|PagePeeker|PagesInventory|PaxleFramework|Peeplo Screenshot Bot|PlantyNet_WebRobot|Pompos|Read%20Later|Reaper|RedCarpet|Retreiver|Riddler|Rival IQ|scooter|Scrapy|Scrubby|searchsight|seekbot|semanticdiscovery|Simpy|SimplePie|SEOstats|SimpleRSS|SiteCon|Slurp|snappy|Speedy Spider|Squrl Java|TheUsefulbot|ThumbShotsBot|Thumbshots\.ru|TwitterBot|URL2PNG|Vagabondo|VoilaBot|^vortex|Votay bot|^voyager|WASALive.Bot|Web-sniffer|WebThumb|WeSEE:[A-z]+|WhatWeb|WIRE|WordPress|Wotbox|www\.almaden\.ibm\.com|Xenu(?:.s)? Link Sleuth|Xerka [A-z]+Bot|yacy(?:bot)?|Yahoo[a-z]*Seeker|Yahoo! Slurp|Yandex\w+|YodaoBot(?:-[A-z]+)?|YottaaMonitor|Yowedo|^Zao|^Zao-Crawler|ZeBot_www\.ze\.bz|ZooShot|ZyBorg)(?:[ /]v?(\d+)(?:\.(\d+)(?:\.(\d+))?)?)?",
    r"(?:\/[A-Za-z0-9\.]+)? *([A-Za-z0-9 \-_\!\[\]:]*(?:[Aa]rchiver|[Ii]ndexer|[Ss]craper|[Bb]ot|[Ss]pider|[Cc]rawl[a-z]*))/(\d+)(?:\.(\d+)(?:\.(\d+))?)?",
    r"(?:\/[A-Za-z0-9\.]+)? *([A-Za-z0-9 _\!\[\]:]*(?:[Aa]rchiver|[Ii]ndexer|[Ss]craper|[Bb]ot|[Ss]pider|[Cc]rawl[a-z]*)) (\d+)(?:\.(\d+)(?:\.(\d+))?)?",
    r"((?:[A-z0-9]+|[A-z\-]+ ?)?(?: the )?(?:[Ss][Pp][Ii][Dd][Ee][Rr]|[Ss]crape|[A-Za-z0-9-]*(?:[^C][^Uu])[Bb]ot|[Cc][Rr][Aa][Ww][Ll])[A-z0-9]*)(?:(?:[ /]| v)(\d+)(?:\.(\d+)(?:\.(\d+))?)?)?",
];

/// The built-in rules, compiled once. An empty set if they fail to compile
/// (they are tested to compile).
static BOTS: LazyLock<RegexSet> =
    LazyLock::new(|| RegexSet::new(RULES).unwrap_or_else(|_| RegexSet::empty()));

fn validate_regex(v: &Value) -> Result<(), String> {
    let s = v.as_str().unwrap_or_default();
    match Regex::new(s) {
        Ok(_) => Ok(()),
        Err(_) => Err(format!("not a valid regex: {s}")),
    }
}

impl Plugin for BotDetection {
    fn name(&self) -> &'static str {
        "bot-detection"
    }

    fn priority(&self) -> i32 {
        2500
    }

    fn schema(&self) -> Schema {
        let regexes = || Field::array(Field::string().custom(validate_regex)).default(json!([]));
        subschema(
            ConsumerScope::Forbidden,
            t::protocols_http(),
            vec![
                ("allow", regexes().describe("An array of regular expressions that should be allowed. The regular expressions will be checked against the `User-Agent` header.")),
                ("deny", regexes().describe("An array of regular expressions that should be denied. The regular expressions will be checked against the `User-Agent` header.")),
            ],
            vec![],
        )
    }

    fn configure(
        &self,
        config: &Value,
        _env: &ConfigureEnv,
    ) -> Result<Box<dyn PluginHandler>, String> {
        let config: Config = crate::util::parse_config(&self.schema(), config)?;
        let allow = RegexSet::new(&config.allow).map_err(|e| e.to_string())?;
        let deny = RegexSet::new(&config.deny).map_err(|e| e.to_string())?;
        Ok(Box::new(Handler { allow, deny }))
    }
}

struct Handler {
    allow: RegexSet,
    deny: RegexSet,
}

impl PluginHandler for Handler {
    fn phases(&self) -> Phases {
        Phases::ACCESS
    }

    fn access(&self, ctx: &mut RequestCtx) -> Decision {
        let ua = match ctx.headers.single(&USER_AGENT) {
            Err(()) => {
                return ctx.reject(
                    StatusCode::BAD_REQUEST,
                    "Only one User-Agent header allowed",
                );
            }
            Ok(None) => return Decision::Continue,
            Ok(Some(v)) => String::from_utf8_lossy(v).into_owned(),
        };
        let ua = ua.trim();
        if self.allow.is_match(ua) {
            return Decision::Continue;
        }
        if self.deny.is_match(ua) || BOTS.is_match(ua) {
            return ctx.reject(StatusCode::FORBIDDEN, "Forbidden");
        }
        Decision::Continue
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use http::Method;
    use serde_json::json;

    use super::{BOTS, RULES};
    use crate::plugins::testkit::*;

    fn run(config: serde_json::Value, uas: &[&str]) -> crate::respond::Decision {
        let mut f = Fixture::default();
        f.global("bot-detection", config);
        let mut ctx = req(Method::GET, "/");
        for ua in uas {
            ctx = with_header(ctx, "user-agent", ua);
        }
        run_access(&f.build(), &mut ctx)
    }

    #[test]
    fn rules_compile() {
        assert_eq!(BOTS.len(), RULES.len());
    }

    #[test]
    fn blocks_bots_and_passes_browsers() {
        let browser = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/50.0.2661.102 Safari/537.36";
        assert!(run(json!({}), &[browser]).is_continue());
        assert!(run(json!({}), &[]).is_continue());
        assert!(run(json!({}), &["curl/7.68.0"]).is_continue());
        for bot in [
            "Googlebot/2.1 (+http://www.google.com/bot.html)",
            "facebookexternalhit/1.1",
            "Apache-HttpClient/4.5",
            "Python-urllib/3.8",
        ] {
            assert_error(run(json!({}), &[bot]), 403, "Forbidden");
        }
        assert_error(
            run(json!({}), &["a", "b"]),
            400,
            "Only one User-Agent header allowed",
        );
    }

    #[test]
    fn allow_and_deny_lists() {
        assert!(
            run(
                json!({ "allow": ["facebookexternalhit"] }),
                &["facebookexternalhit/1.1"]
            )
            .is_continue()
        );
        assert_error(
            run(json!({ "deny": ["HelloWorld"] }), &["  HelloWorld  "]),
            403,
            "Forbidden",
        );
        assert!(run(json!({ "deny": ["HelloWorld"] }), &["Hello"]).is_continue());
    }

    #[test]
    fn config_validation() {
        let e = config_errors("bot-detection", json!({ "allow": ["(https?:\\/\\/.*"] }));
        assert_eq!(e["allow"], json!(["not a valid regex: (https?:\\/\\/.*"]));
        assert_eq!(
            filled("bot-detection", json!({})),
            json!({ "allow": [], "deny": [] })
        );
    }
}
