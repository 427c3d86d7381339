//! Organization roles and what each may do (Better Auth's default access control): `owner`
//! everything, `admin` all but deleting the organization or touching ownership, `member` only
//! reads. The rules for changing a membership live here too, so the store can apply them inside
//! the transaction that makes the change.

use super::model::MemberRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Member,
    Admin,
    Owner,
}

/// What a role may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    UpdateOrganization,
    DeleteOrganization,
    /// Invite, change roles, remove members.
    ManageMembers,
    CancelInvitation,
}

impl Role {
    /// A role name, in any case.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "owner" => Some(Self::Owner),
            "admin" => Some(Self::Admin),
            "member" => Some(Self::Member),
            _ => None,
        }
    }

    /// A stored role. Better Auth keeps several roles comma-joined (`"admin,member"`); the
    /// strongest counts. Anything unknown counts as `member`.
    pub fn of_stored(stored: &str) -> Self {
        stored.split(',').filter_map(Self::parse).max().unwrap_or(Self::Member)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    pub fn can(self, permission: Permission) -> bool {
        match self {
            Self::Owner => true,
            Self::Admin => permission != Permission::DeleteOrganization,
            Self::Member => false,
        }
    }
}

/// A change to one membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    SetRole(Role),
    Remove,
    /// The caller removes their own membership.
    Leave,
}

/// Why a change to an organization or a membership was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The organization does not exist (any more).
    OrganizationNotFound,
    /// The caller is not a member of the organization.
    NotAMember,
    /// The target is not a member of the organization.
    MemberNotFound,
    /// The caller's role does not allow it.
    NotAllowed,
    /// It would leave the organization without an owner.
    LastOwner,
}

/// Whether `actor` may apply `change` to `target`, given how many owners the organization has.
/// Owners and admins manage members; only owners make, unmake or remove owners; anyone may leave;
/// the last owner may not stop being one.
pub fn check_member_change(
    actor: &MemberRow,
    target: &MemberRow,
    change: MemberChange,
    owners: usize,
) -> Result<(), Denied> {
    let actor_role = Role::of_stored(&actor.role);
    let target_role = Role::of_stored(&target.role);
    let touches_ownership = target_role == Role::Owner || change == MemberChange::SetRole(Role::Owner);
    let permitted = match change {
        MemberChange::Leave => actor.id == target.id,
        MemberChange::SetRole(_) | MemberChange::Remove => {
            actor_role.can(Permission::ManageMembers) && (!touches_ownership || actor_role == Role::Owner)
        }
    };
    if !permitted {
        return Err(Denied::NotAllowed);
    }
    let stays_owner = change == MemberChange::SetRole(Role::Owner);
    if !stays_owner && is_last_owner(target_role, owners) {
        return Err(Denied::LastOwner);
    }
    Ok(())
}

/// The last-owner rule: a member with `role` is the organization's last owner when it has at
/// most `owners` owners. They may not stop being one while others remain.
pub fn is_last_owner(role: Role, owners: usize) -> bool {
    role == Role::Owner && owners <= 1
}

/// Whether `membership` (the caller's in the organization, if any) grants `permission`.
pub fn authorize(membership: Option<&MemberRow>, permission: Permission) -> Result<(), Denied> {
    match membership {
        None => Err(Denied::NotAMember),
        Some(m) if !Role::of_stored(&m.role).can(permission) => Err(Denied::NotAllowed),
        Some(_) => Ok(()),
    }
}

/// One membership of a user whose account is being deleted, with its organization's head count.
#[derive(Debug, Clone)]
pub struct Leaving {
    pub organization_id: String,
    pub role: Role,
    pub members: usize,
    pub owners: usize,
}

/// What deleting a user does to their organizations: the ones they are the only member of go
/// with them (the answer); refused (`LastOwner`) while they are the last owner of one that has
/// other members.
pub fn organizations_deleted_with(memberships: Vec<Leaving>) -> Result<Vec<String>, Denied> {
    let mut alone = Vec::new();
    for m in memberships {
        if m.members <= 1 {
            alone.push(m.organization_id);
        } else if is_last_owner(m.role, m.owners) {
            return Err(Denied::LastOwner);
        }
    }
    Ok(alone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, role: &str) -> MemberRow {
        MemberRow {
            id: id.into(),
            organization_id: "o".into(),
            user_id: format!("u-{id}"),
            role: role.into(),
            created_at: 0,
        }
    }

    #[test]
    fn stored_roles() {
        assert_eq!(Role::of_stored("admin,member"), Role::Admin);
        assert_eq!(Role::of_stored("owner"), Role::Owner);
        assert_eq!(Role::of_stored("custom"), Role::Member);
        assert_eq!(Role::of_stored(" Owner "), Role::Owner);
        assert_eq!(Role::parse("superuser"), None);
    }

    #[test]
    fn member_changes() {
        use MemberChange::*;
        let (owner, admin, plain) = (member("o", "owner"), member("a", "admin"), member("m", "member"));
        assert_eq!(check_member_change(&admin, &plain, SetRole(Role::Admin), 1), Ok(()));
        assert_eq!(check_member_change(&admin, &plain, SetRole(Role::Owner), 1), Err(Denied::NotAllowed));
        assert_eq!(check_member_change(&admin, &owner, Remove, 2), Err(Denied::NotAllowed));
        assert_eq!(check_member_change(&plain, &plain, Remove, 1), Err(Denied::NotAllowed));
        assert_eq!(check_member_change(&plain, &plain, Leave, 1), Ok(()));
        assert_eq!(check_member_change(&plain, &admin, Leave, 1), Err(Denied::NotAllowed));
        assert_eq!(check_member_change(&owner, &owner, Leave, 1), Err(Denied::LastOwner));
        assert_eq!(check_member_change(&owner, &owner, SetRole(Role::Admin), 1), Err(Denied::LastOwner));
        assert_eq!(check_member_change(&owner, &owner, SetRole(Role::Owner), 1), Ok(()));
        assert_eq!(check_member_change(&owner, &owner, Remove, 2), Ok(()));
    }

    #[test]
    fn permissions() {
        let (admin, plain) = (member("a", "admin"), member("m", "member"));
        assert_eq!(authorize(None, Permission::UpdateOrganization), Err(Denied::NotAMember));
        assert_eq!(authorize(Some(&admin), Permission::UpdateOrganization), Ok(()));
        assert_eq!(authorize(Some(&admin), Permission::DeleteOrganization), Err(Denied::NotAllowed));
        assert_eq!(authorize(Some(&plain), Permission::ManageMembers), Err(Denied::NotAllowed));
    }

    #[test]
    fn deleting_a_user() {
        let leaving =
            |org: &str, role, members, owners| Leaving { organization_id: org.into(), role, members, owners };
        let alone = leaving("a", Role::Owner, 1, 1);
        let shared = leaving("b", Role::Member, 3, 1);
        assert_eq!(organizations_deleted_with(vec![alone.clone(), shared]), Ok(vec!["a".to_string()]));
        let last_owner = leaving("c", Role::Owner, 2, 1);
        assert_eq!(organizations_deleted_with(vec![alone, last_owner]), Err(Denied::LastOwner));
        assert_eq!(organizations_deleted_with(vec![leaving("d", Role::Owner, 2, 2)]), Ok(vec![]));
    }
}
