//! What every flow of the identity service uses: one import list, so each flow file
//! starts with `use crate::prelude::*;`.

#![allow(unused_imports)]

pub(crate) use crate::jwt::{AccessClaims, JwtError};
pub(crate) use crate::keys::KeyManager;
pub(crate) use crate::password::{check_new_password, PasswordError, PasswordHasher};
pub(crate) use crate::tokens::{self, random_token, TokenHash};
pub(crate) use crate::{crypto::KeyRing, totp, SecretString};
pub(crate) use hmac::{Hmac, Mac};
pub(crate) use rampart_audit::{self as audit, ActionType, NewAuditEntry, Target};
pub(crate) use rampart_db::{Db, DbError, RlsContext, Tx};
pub(crate) use rampart_kernel::account::{AccountStatus, Role};
pub(crate) use rampart_kernel::fields::bounded_text;
pub(crate) use rampart_kernel::{Clock, Email, FieldError, FieldErrors, Username};
pub(crate) use rampart_security::client_ip::ip_prefix;
pub(crate) use rampart_security::events::{EventContext, SecurityEvent, SecurityEvents};
pub(crate) use sha2::Sha256;
pub(crate) use std::collections::HashMap;
pub(crate) use std::net::IpAddr;
pub(crate) use std::sync::{Arc, Mutex};

pub(crate) use crate::accounts::store::{self as user_store, NewUser, UserRow};
pub(crate) use crate::invites::store as invite_store;
pub(crate) use crate::login::store as lockout_store;
pub(crate) use crate::oauth::store as oauth_store;
pub(crate) use crate::outbox;
pub(crate) use crate::pats::store as pat_store;
pub(crate) use crate::principal::{Principal, Scope, Scopes, Subject, Via};
pub(crate) use crate::recovery::store as reset_store;
pub(crate) use crate::refresh::store as refresh_store;
pub(crate) use crate::service::*;
pub(crate) use crate::sessions::store::{self as session_store, NewSession, SessionRow};
pub(crate) use crate::twofactor::store as totp_store;
pub(crate) use crate::verification::store as verify_store;
pub(crate) use rampart_kernel::{ClientId, UserId};
