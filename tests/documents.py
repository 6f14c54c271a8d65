"""GraphQL documents that several test modules send, kept here once.

A module's own documents (the selections its assertions read) stay in the module; what moves here is
what more than one module sends the same way, mostly to set a world up.
"""

REGISTER = """
mutation Register($input: RegisterInput!) {
  register(input: $input) {
    token expiresAt confirmationMailed user { id email name } errors { field code message }
  }
}"""
CONFIRM_REGISTRATION = """
mutation Confirm($token: String!) {
  confirmRegistration(input: {token: $token}) { token expiresAt user { id email name } errors { field code message } }
}"""
VERIFY_EMAIL = """
mutation Verify($token: String!) {
  verifyEmail(input: {token: $token}) { user { id email emailVerified } errors { field code message } }
}"""
LOGIN = """
mutation Login($input: LoginInput!) {
  login(input: $input) { token expiresAt user { id email } errors { field code message } }
}"""
CREATE_ORGANIZATION = """
mutation Create($input: CreateOrganizationInput!) {
  createOrganization(input: $input) {
    organization { id name website country language viewerMembership { id role } }
    errors { field code message }
  }
}"""
ADD_MEMBER = """
mutation Add($input: AddMemberInput!) {
  addMember(input: $input) {
    invitation { id email role organizationPermissions partnerPermissions status throughServicePartner }
    errors { field code message }
  }
}"""
ACCEPT_MEMBERSHIP = """
mutation Accept($token: String!) {
  acceptMembershipInvitation(input: {token: $token}) {
    membership { id role organizationPermissions partnerPermissions user { email } }
    errors { field code message }
  }
}"""
REQUEST_PARTNER_STATUS = """
mutation Apply($input: RequestPartnerStatusInput!) {
  requestPartnerStatus(input: $input) { application { id status programs } errors { field code message } }
}"""
APPROVE_PARTNER_APPLICATION = """
mutation Approve($input: ApprovePartnerApplicationInput!) {
  approvePartnerApplication(input: $input) { application { id status approvedPrograms } errors { field code } }
}"""
PARTNER_CODE = "query Code($id: ID!) { node(id: $id) { ... on Organization { partnerProfile { code } } } }"
CREATE_API_KEY = """
mutation Key($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret errors { field code } } }"""
SET_SERVICE_PARTNER = """
mutation Choose($id: ID!, $code: String!) {
  setServicePartner(input: {organizationId: $id, partnerCode: $code}) { relationship { id startedAt } errors { code } }
}"""
CREATE_RULE = """
mutation Rule($input: CreateCommissionRuleInput!) {
  createCommissionRule(input: $input) {
    rule { id program kind rate flat { amount currency } recurrence months holdDays tier productId partnerId active }
    errors { field code message }
  }
}"""
SET_EXCHANGE_RATE = """
mutation Rate($input: SetExchangeRateInput!) {
  setExchangeRate(input: $input) { exchangeRate { currency rate validFrom } errors { field code } }
}"""
RECORD_LICENSE_CHANGE = """
mutation License($input: RecordLicenseChangeInput!) {
  recordLicenseChange(input: $input) { license { status } errors { field code message } }
}"""
SET_DELEGATED_PERMISSIONS = """
mutation Grant($input: SetDelegatedPermissionsInput!) { setDelegatedPermissions(input: $input) { errors { code } } }"""
INVITE_CUSTOMER = """
mutation Invite($input: InviteCustomerInput!) {
  inviteCustomer(input: $input) {
    invitation { id email organizationName message language status expiresAt createdAt acceptedAt }
    errors { field code message }
  }
}"""
ACCEPT_INVITATION = """
mutation Accept($input: AcceptInvitationInput!) {
  acceptInvitation(input: $input) {
    token
    organization { id name viewerMembership { role } }
    user { id email name }
    errors { field code message }
  }
}"""
OUTBOX = """
{ outboxMessages(first: 100) { totalCount edges { node { recipient subject textBody htmlBody language } } } }"""
CREATE_PRODUCT = """
mutation Product($input: CreateProductInput!) { createProduct(input: $input) { product { id } errors { code } } }"""
CREATE_PLAN = """
mutation Plan($input: CreatePlanInput!) { createPlan(input: $input) { plan { id code } errors { code } } }"""
REQUEST_PAYOUT = """
mutation Request($input: RequestPayoutInput!) { requestPayout(input: $input) { payout { id } errors { code } } }"""
APPROVE_PAYOUT = """
mutation Approve($input: ApprovePayoutInput!) { approvePayout(input: $input) { errors { code } } }"""
RECORD_REFUND = """
mutation Refund($input: RecordRefundInput!) { recordRefund(input: $input) { errors { field code message } } }"""
NODES = "query Nodes($ids: [ID!]!) { nodes(ids: $ids) { id } }"
LOGOUT = "mutation { logout { sessionsEnded errors { code } } }"
REVOKE_DELEGATED_PERMISSIONS = """
mutation Revoke($id: ID!) {
  revokeDelegatedPermissions(input: {organizationId: $id}) { relationship { grant { permissions } } errors { code } }
}"""
