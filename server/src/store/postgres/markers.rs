//! Read markers and unread counts.

use super::rows::sql_id;
use crate::store::*;
use deadpool_postgres::{GenericClient, Object};

/// One conversation's unread state: its storage key, unread messages, how
/// many of them mention the user, and the user's marker.
struct Unread {
    conv: String,
    count: u32,
    mentions: u32,
    read_up_to: Option<MessageId>,
}

/// Unread counts and read marker of every conversation in `convs` (storage
/// keys) for `user`; one round trip.
async fn unread_in(client: &Object, project: &str, user: &UserId, convs: &[String]) -> Result<Vec<Unread>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT c.conv, r.up_to,
                    (SELECT COUNT(*) FROM messages m
                     WHERE m.project = $1 AND m.conv = c.conv AND m.id > COALESCE(r.up_to, 0) AND m.sender <> $2),
                    (SELECT COUNT(*) FROM mentions n
                     WHERE n.project = $1 AND n.user_id = $2 AND n.conv = c.conv AND n.id > COALESCE(r.up_to, 0))
             FROM unnest($3::text[]) AS c(conv)
             LEFT JOIN read_markers r ON r.project = $1 AND r.user_id = $2 AND r.conv = c.conv",
        )
        .await?;
    let rows = client.query(&stmt, &[&project, &user.as_str(), &convs]).await?;
    let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    rows.iter()
        .map(|row| {
            let up_to: Option<i64> = row.try_get(1)?;
            Ok(Unread {
                conv: row.try_get(0)?,
                count: count(row.try_get(2)?),
                mentions: count(row.try_get(3)?),
                read_up_to: up_to.map(|u| MessageId(u.max(0) as u64)),
            })
        })
        .collect()
}

/// A new user's room marker starts at the newest room message, so older
/// room history is not "unread".
pub(super) async fn start_room_marker(
    client: &impl GenericClient,
    project: &str,
    user: &str,
) -> Result<(), StoreError> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO read_markers (project, user_id, conv, up_to)
             SELECT $1, $2, 'room', COALESCE(MAX(id), 0) FROM messages WHERE project = $1 AND conv = 'room'
             ON CONFLICT DO NOTHING",
        )
        .await?;
    client.execute(&stmt, &[&project, &user]).await?;
    Ok(())
}

pub(super) async fn mark_read(
    client: &Object,
    project: &ProjectId,
    user: &UserId,
    conversation: &Conversation,
    up_to: MessageId,
) -> Result<UnreadCount, StoreError> {
    let conv = conversation_key(user, conversation);
    let stmt = client
        .prepare_cached(
            "INSERT INTO read_markers (project, user_id, conv, up_to)
             SELECT $1, $2, $3, LEAST($4, COALESCE(MAX(id), 0)) FROM messages WHERE project = $1 AND conv = $3
             ON CONFLICT (project, user_id, conv) DO UPDATE SET up_to = GREATEST(read_markers.up_to, excluded.up_to)",
        )
        .await?;
    client.execute(&stmt, &[&project.as_str(), &user.as_str(), &conv, &sql_id(up_to)]).await?;
    let counts = unread_in(client, project.as_str(), user, std::slice::from_ref(&conv)).await?;
    let Unread { count, mentions, read_up_to, .. } =
        counts.into_iter().next().ok_or_else(|| StoreError::Corrupt("no unread count returned".into()))?;
    Ok(UnreadCount { conversation: conversation.clone(), count, read_up_to, mentions })
}

pub(super) async fn unread(
    client: &Object,
    project: &ProjectId,
    user: &UserId,
) -> Result<Vec<UnreadCount>, StoreError> {
    let stmt = client.prepare_cached("SELECT conv FROM conversations WHERE project = $1 AND user_id = $2").await?;
    let mut convs: Vec<String> = client
        .query(&stmt, &[&project.as_str(), &user.as_str()])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    convs.push("room".into());
    let mut out = Vec::new();
    for Unread { conv, count, mentions, read_up_to } in unread_in(client, project.as_str(), user, &convs).await? {
        if count > 0 {
            out.push(UnreadCount { conversation: conversation_from_key(user, &conv)?, count, read_up_to, mentions });
        }
    }
    Ok(out)
}
